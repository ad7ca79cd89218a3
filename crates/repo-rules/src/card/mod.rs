//! The model card: `README.md` front matter, parsed as the Hub does ([`yaml`]: the
//! front-matter pattern of huggingface_hub, safe YAML with no language-specific tags, a mapping
//! at the top, within limits on size and depth), then checked field by field ([`fields`]:
//! licenses, tags, pipeline and library, base models, `model-index`, dataset fields).

mod fields;
mod yaml;

use hub_types::RepoType;
use serde_json::Value;

use crate::{finding, ChangedFile, Context, Finding};
use fields::{as_list, fields};
use yaml::front_matter;

const CARD: &str = "README.md";

pub fn check(changed: &[ChangedFile], ctx: &dyn Context, out: &mut Vec<Finding>) {
    let card = changed.iter().find(|f| f.path == CARD);
    let Some(card) = card else {
        if ctx.repo_type() == RepoType::Model && !ctx.exists(CARD) {
            out.push(finding(
                "card-missing",
                CARD,
                "this model repo has no README.md (model card)".into(),
                "add a README.md with YAML front matter (license, pipeline_tag, ...) and a description",
            ));
        }
        return;
    };
    match front_matter(card) {
        Err(f) => out.push(f),
        Ok(None) => out.push(finding(
            "card-license-missing",
            CARD,
            "README.md has no YAML front matter, so no license".into(),
            "start README.md with a block between --- lines, e.g. `license: apache-2.0`",
        )),
        Ok(Some(meta)) => fields(&meta, ctx, out),
    }
}

/// A card's front matter as JSON, as the API shows it (`cardData`); `None` when the card has
/// none or it does not parse.
pub fn metadata(readme: &[u8]) -> Option<serde_json::Map<String, Value>> {
    let card = ChangedFile {
        path: CARD.into(),
        size: readme.len() as u64,
        content: readme.to_vec(),
    };
    front_matter(&card).ok().flatten()
}

/// The license ids a card declares (empty when it declares none or cannot be parsed).
pub fn declared_licenses(card: &ChangedFile) -> Vec<String> {
    let Ok(Some(meta)) = front_matter(card) else {
        return Vec::new();
    };
    meta.get("license")
        .map(as_list)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::yaml::find_tag;
    use crate::{CardOnly, ChangedFile};
    use hub_types::RepoType;

    /// The rules a README.md of `card` breaks in a repo of type `t`.
    fn rules(card: &str, t: RepoType) -> Vec<&'static str> {
        let f = ChangedFile {
            path: "README.md".into(),
            size: card.len() as u64,
            content: card.as_bytes().to_vec(),
        };
        let mut out = Vec::new();
        super::check(&[f], &CardOnly(t), &mut out);
        out.iter().map(|f| f.rule).collect()
    }

    #[test]
    fn a_single_string_is_a_list_of_one_as_the_hub_takes_it() {
        let run = |card: &str| rules(card, RepoType::Model);
        let ok = "---\nlicense: mit\ndatasets: glue\nmetrics: accuracy\ntags: text\n---\n";
        assert!(run(ok).is_empty(), "{:?}", run(ok));
        assert!(run("---\nlicense: mit\ndatasets: [glue, org/set]\n---\n").is_empty());
        assert_eq!(
            run("---\nlicense: mit\ndatasets: 5\n---\n"),
            ["card-field-type"]
        );
        assert_eq!(
            run("---\nlicense: mit\ndatasets: \"not a/valid/id\"\n---\n"),
            ["card-dataset-id"]
        );
    }

    #[test]
    fn dataset_cards_get_dataset_rules() {
        let run = |card: &str| rules(card, RepoType::Dataset);
        let good = "---\nlicense: cc-by-4.0\ntask_categories:\n- text-classification\nsize_categories:\n- 1K<n<10K\npretty_name: Reviews\nconfigs:\n- config_name: default\n  data_files: data/*.parquet\n---\n";
        assert!(run(good).is_empty(), "{:?}", run(good));
        // Model-only fields are not judged on a dataset.
        assert!(run("---\nlicense: mit\nlibrary_name: nope\nbase_model: /x\n---\n").is_empty());
        assert_eq!(
            run("---\nlicense: mit\nsize_categories: lots\n---\n"),
            ["card-size-category"]
        );
        assert_eq!(
            run("---\nlicense: mit\nsize_categories: {a: 1}\n---\n"),
            ["card-field-type"]
        );
        // Forms the Hub takes: one string for a list, a number for a name.
        let hub_forms = "---\nlicense: mit\nsize_categories: 1K<n<10K\ntask_categories: text-classification\npretty_name: 2024\n---\n";
        assert!(run(hub_forms).is_empty(), "{:?}", run(hub_forms));
        assert_eq!(
            run("---\nlicense: mit\ntask_categories: [text-clasification]\n---\n"),
            ["card-pipeline-tag"]
        );
        assert_eq!(
            run("---\nlicense: mit\nconfigs: [{data_files: x}]\n---\n"),
            ["card-field-type"]
        );
        // And a dataset without a card gets no card-missing warning.
        let mut out = Vec::new();
        super::check(&[], &CardOnly(RepoType::Dataset), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn tags_are_found_where_nodes_start() {
        assert_eq!(
            find_tag("a: !!python/tuple [1, 2]").map(|t| t.0),
            Some("!!python/tuple".into())
        );
        assert_eq!(find_tag("- !custom x").map(|t| (t.1, t.2)), Some((0, 3)));
        assert_eq!(
            find_tag("a: [1, !!python/name:os.system x]").map(|t| t.0),
            Some("!!python/name:os.system".into())
        );
        assert_eq!(
            find_tag("a: !!str 1\nb: hello!\nc: \"!x\"\nd: x # !y"),
            None
        );
        assert_eq!(find_tag("a: |\n  !not a tag\nb: 1"), None);
        assert!(find_tag("a: |\n  text\nb: !bad 1").is_some());
    }
}
