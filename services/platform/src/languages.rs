//! Language tags: what volunteers speak and what tasks require or prefer.
//!
//! Registration stores a volunteer's languages and task stores a task's in the canonical case
//! of BCP 47 ([`canonical_tag`]); matching compares them by their primary language subtag
//! ([`speaks`]), so that a task asking for `uk` finds a volunteer who gave `uk-UA`, and one
//! asking for `pt-BR` finds a volunteer who gave `pt` (regional variants understand each
//! other well enough for the work of a disaster, and volunteers rarely give a region).

/// A BCP 47 tag in canonical case (`de`, `pt-BR`, `sr-Latn`, `zh-Hant-TW`), or `None` when the
/// text is not well-formed: a 2–3 letter language, then subtags of 1–8 letters or digits.
pub fn canonical_tag(tag: &str) -> Option<String> {
    let tag = tag.trim();
    if tag.is_empty() || tag.len() > 35 {
        return None;
    }
    let mut parts = tag.split(['-', '_']);
    let language = parts.next()?;
    if !(2..=3).contains(&language.len()) || !language.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let mut out = language.to_ascii_lowercase();
    for part in parts {
        if part.is_empty() || part.len() > 8 || !part.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        out.push('-');
        if part.len() == 4 && part.bytes().all(|b| b.is_ascii_alphabetic()) {
            let mut script = part.to_ascii_lowercase();
            script[..1].make_ascii_uppercase();
            out.push_str(&script);
        } else if part.len() == 2 && part.bytes().all(|b| b.is_ascii_alphabetic()) {
            out.push_str(&part.to_ascii_uppercase());
        } else {
            out.push_str(&part.to_ascii_lowercase());
        }
    }
    Some(out)
}

/// The primary language subtag of a tag (`uk` of `uk-UA`), case as given.
pub fn primary(tag: &str) -> &str {
    tag.split(['-', '_']).next().unwrap_or(tag)
}

/// Whether someone who speaks `spoken` (tags) speaks `language`: the same primary language
/// subtag, ignoring case.
pub fn speaks(spoken: &[String], language: &str) -> bool {
    let wanted = primary(language);
    spoken
        .iter()
        .any(|s| primary(s).eq_ignore_ascii_case(wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_come_out_canonical() {
        assert_eq!(canonical_tag("DE").as_deref(), Some("de"));
        assert_eq!(canonical_tag("pt-br").as_deref(), Some("pt-BR"));
        assert_eq!(canonical_tag("zh-hant-tw").as_deref(), Some("zh-Hant-TW"));
        assert_eq!(canonical_tag("german"), None);
        assert_eq!(canonical_tag("d3"), None);
        assert_eq!(canonical_tag("de-"), None);
    }

    #[test]
    fn languages_match_on_the_primary_subtag() {
        let spoken = vec!["de".to_owned(), "uk-UA".to_owned()];
        assert!(speaks(&spoken, "uk"));
        assert!(speaks(&spoken, "de-AT"));
        assert!(!speaks(&spoken, "ar"));
        assert!(!speaks(&spoken, "u"));
        assert!(!speaks(&[], "de"));
    }
}
