//! Syntax highlighting of file views with syntect's bundled grammars: the HTML carries classes
//! only (the page's Content-Security-Policy forbids inline styles), and `/assets/code.css`
//! holds a light and a dark theme.

use std::sync::OnceLock;

use syntect::highlighting::ThemeSet;
use syntect::html::{css_for_theme_with_class_style, ClassStyle, ClassedHTMLGenerator};
use syntect::parsing::SyntaxSet;
use syntect::util::LinesWithEndings;

const STYLE: ClassStyle = ClassStyle::SpacedPrefixed { prefix: "hl-" };
/// Larger files are shown as plain text: highlighting them would cost more than it helps.
pub const MAX_HIGHLIGHT: usize = 128 << 10;

fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(SyntaxSet::load_defaults_newlines)
}

/// The file as highlighted HTML, or `None` when no grammar fits (or it is too large).
pub fn highlight(path: &str, text: &str) -> Option<String> {
    if text.len() > MAX_HIGHLIGHT {
        return None;
    }
    let ss = syntaxes();
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or(name);
    let syntax = ss
        .find_syntax_by_extension(ext)
        .or_else(|| ss.find_syntax_by_first_line(text.lines().next().unwrap_or_default()))?;
    let mut gen = ClassedHTMLGenerator::new_with_class_style(syntax, ss, STYLE);
    for line in LinesWithEndings::from(text) {
        gen.parse_html_for_line_which_includes_newline(line).ok()?;
    }
    Some(gen.finalize())
}

/// The themes' CSS: light by default, dark when the system asks for it.
pub fn css() -> &'static str {
    static CSS: OnceLock<String> = OnceLock::new();
    CSS.get_or_init(|| {
        let themes = ThemeSet::load_defaults();
        let light = css_for_theme_with_class_style(&themes.themes["InspiredGitHub"], STYLE)
            .unwrap_or_default();
        let dark = css_for_theme_with_class_style(&themes.themes["base16-ocean.dark"], STYLE)
            .unwrap_or_default();
        format!("{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n")
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_and_python_get_classes() {
        let html = super::highlight("config.json", "{\"a\": 1}\n").unwrap();
        assert!(html.contains("class=\"hl-"), "{html}");
        assert!(!html.contains("style="), "{html}");
        assert!(super::highlight("x.py", "def f():\n    return '<b>'\n")
            .unwrap()
            .contains("&lt;b&gt;"));
        assert!(super::css().contains(".hl-"));
    }
}
