//! Model cards as HTML: Markdown (tables, code blocks, images from the repo) rendered by
//! pulldown-cmark, then sanitized by ammonia, so HTML in a card can never run script, carry
//! event handlers or `javascript:` links, or load from elsewhere than this server.

use std::borrow::Cow;

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};

/// The card's body (front matter removed) as safe HTML. Relative image paths point at the
/// repo's files (`resolve`), relative links at the file pages (`blob`).
pub fn render(readme: &str, repo_url: &str, rev: &str) -> String {
    let body = strip_front_matter(readme);
    let resolve = |p: &str| {
        format!(
            "{repo_url}/resolve/{rev}/{}",
            p.trim_start_matches("./").trim_start_matches('/')
        )
    };
    let blob = |p: &str| {
        format!(
            "{repo_url}/blob/{rev}/{}",
            p.trim_start_matches("./").trim_start_matches('/')
        )
    };
    let relative =
        |u: &str| !u.contains(':') && !u.starts_with('#') && !u.starts_with("//") && !u.is_empty();
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(body, opts).map(|e| match e {
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) if relative(&dest_url) => Event::Start(Tag::Image {
            link_type,
            dest_url: CowStr::from(resolve(&dest_url)),
            title,
            id,
        }),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) if relative(&dest_url) => Event::Start(Tag::Link {
            link_type,
            dest_url: CowStr::from(blob(&dest_url)),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    let base = format!("{repo_url}/resolve/{rev}/");
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        // Raw <img src="x.png"> in the card: a repo file too. Absolute paths stay.
        .url_relative(ammonia::UrlRelative::Custom(Box::new(RepoFiles { base })))
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(&out)
        .to_string()
}

/// Relative URLs in raw HTML of a card: files of the repo. Absolute paths stay.
struct RepoFiles {
    base: String,
}

impl<'a> ammonia::UrlRelativeEvaluate<'a> for RepoFiles {
    fn evaluate<'url>(&self, u: &'url str) -> Option<Cow<'url, str>> {
        if u.starts_with('/') || u.starts_with('#') {
            Some(Cow::Borrowed(u))
        } else {
            Some(Cow::Owned(format!(
                "{}{}",
                self.base,
                u.trim_start_matches("./")
            )))
        }
    }
}

/// The Markdown after the YAML front matter, if any.
pub fn strip_front_matter(readme: &str) -> &str {
    let t = readme.trim_start();
    let Some(rest) = t.strip_prefix("---") else {
        return readme;
    };
    let Some(rest) = rest
        .strip_prefix('\n')
        .or_else(|| rest.strip_prefix("\r\n"))
    else {
        return readme;
    };
    match rest.find("\n---") {
        Some(end) => {
            let after = &rest[end + 4..];
            after.split_once('\n').map_or("", |(_, body)| body)
        }
        None => readme,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_are_rendered_and_made_inert() {
        let card = "---\nlicense: mit\n---\n# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nprint(1)\n```\n\n![plot](images/plot.png)\n[config](config.json)\n<script>alert(1)</script>\n<img src=\"x.png\" onerror=\"alert(2)\">\n\n[bad](javascript:alert(3))\n";
        let html = render(card, "/alice/m", "main");
        assert!(
            html.contains("<h1>Title</h1>")
                && html.contains("<table>")
                && html.contains("<pre><code>print(1)"),
            "{html}"
        );
        assert!(
            html.contains("src=\"/alice/m/resolve/main/images/plot.png\""),
            "{html}"
        );
        assert!(
            html.contains("href=\"/alice/m/blob/main/config.json\""),
            "{html}"
        );
        assert!(
            !html.contains("<script")
                && !html.contains("onerror")
                && !html.contains("href=\"javascript"),
            "{html}"
        );
        assert!(html.contains(">bad</a>"), "{html}");
        assert!(
            html.contains("src=\"/alice/m/resolve/main/x.png\""),
            "{html}"
        );
        assert!(!html.contains("license: mit"));
    }
}
