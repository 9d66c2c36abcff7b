//! Text that people type and other people read: names, titles, descriptions, addresses.
//!
//! It is kept in Unicode Normalization Form C, so that a name typed on two keyboards (a
//! precomposed "é" or "e" with a combining accent) is one string that compares, counts and
//! deduplicates as one. It is refused when it could mislead its readers:
//!
//! - **bidirectional embeddings, overrides and isolates** (U+202A–U+202E, U+2066–U+2069, the
//!   "Trojan Source" characters): they reorder what follows them, in an SMS, an e-mail or a
//!   dashboard line, so that a title can show other words than it holds. The marks LRM, RLM
//!   and ALM stay allowed: Arabic and Hebrew names need them and they reorder nothing.
//! - **control characters** (line breaks and tabs only where a field has several lines);
//! - **nothing visible**: only spaces and default-ignorable characters (zero-width spaces and
//!   joiners, variation selectors, fillers), which show as an empty name.
//!
//! Lengths count characters (Unicode scalar values) after normalisation and trimming.

use unicode_normalization::UnicodeNormalization;

/// What is wrong with a text; [`TextProblem::describe`] says it in a field violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProblem {
    Required,
    TooLong(usize),
    Control,
    Bidi,
    Invisible,
}

impl TextProblem {
    pub fn describe(self) -> String {
        match self {
            Self::Required => "is required".into(),
            Self::TooLong(max) => format!("must be at most {max} characters"),
            Self::Control => "must not contain control characters".into(),
            Self::Bidi => {
                "must not contain bidirectional embedding, override or isolate characters \
                 (U+202A-U+202E, U+2066-U+2069)"
                    .into()
            }
            Self::Invisible => "must contain visible characters".into(),
        }
    }
}

/// Rules for one field.
#[derive(Debug, Clone, Copy)]
pub struct TextRules {
    pub required: bool,
    /// Most characters, after normalisation and trimming.
    pub max: usize,
    /// Line breaks and tabs allowed (descriptions, notes).
    pub multiline: bool,
}

/// The text trimmed and in NFC, or its first problem. An empty optional text is `Ok("")`.
pub fn clean(value: &str, rules: TextRules) -> Result<String, TextProblem> {
    let text: String = value.trim().nfc().collect();
    if text.is_empty() {
        return if rules.required {
            Err(TextProblem::Required)
        } else {
            Ok(text)
        };
    }
    if text.chars().count() > rules.max {
        return Err(TextProblem::TooLong(rules.max));
    }
    if text.chars().any(is_bidi_control) {
        return Err(TextProblem::Bidi);
    }
    if text
        .chars()
        .any(|c| c.is_control() && !(rules.multiline && matches!(c, '\n' | '\r' | '\t')))
    {
        return Err(TextProblem::Control);
    }
    if text.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
        return Err(TextProblem::Invisible);
    }
    Ok(text)
}

/// The embeddings, overrides and isolates of the Unicode bidirectional algorithm.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing by themselves: Unicode's Default_Ignorable_Code_Point set
/// (DerivedCoreProperties.txt) and the blank fillers that render as empty space.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{2800}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: TextRules = TextRules {
        required: true,
        max: 10,
        multiline: false,
    };

    #[test]
    fn text_comes_out_trimmed_and_composed() {
        // "José" with a combining acute accent becomes the precomposed é.
        assert_eq!(clean("  Jose\u{0301} ", NAME), Ok("Jos\u{00E9}".to_owned()));
        // Ten characters after composition, although eleven code points were sent.
        assert_eq!(
            clean("Andre\u{0301}-Paul", NAME).map(|t| t.chars().count()),
            Ok(10)
        );
    }

    #[test]
    fn misleading_text_is_refused() {
        assert_eq!(
            clean("Eva \u{202E}nnA", NAME),
            Err(TextProblem::Bidi),
            "right-to-left override"
        );
        assert_eq!(clean("a\u{2066}b\u{2069}", NAME), Err(TextProblem::Bidi));
        assert_eq!(clean("\u{200B}\u{200D}", NAME), Err(TextProblem::Invisible));
        assert_eq!(clean(" \u{3164} ", NAME), Err(TextProblem::Invisible));
        assert_eq!(clean("a\u{0007}", NAME), Err(TextProblem::Control));
        assert_eq!(clean("a\nb", NAME), Err(TextProblem::Control));
        assert_eq!(clean("   ", NAME), Err(TextProblem::Required));
        assert_eq!(clean("elf chars!!", NAME), Err(TextProblem::TooLong(10)));
    }

    #[test]
    fn real_names_pass() {
        // An Arabic name with a right-to-left mark, a Ukrainian one, an emoji with its
        // variation selector and a zero-width joiner inside a word.
        for name in [
            "\u{0644}\u{064A}\u{0644}\u{0649}\u{200F}",
            "Олена",
            "Team \u{2764}\u{FE0F}",
            "क्\u{200D}ष",
        ] {
            assert!(clean(name, NAME).is_ok(), "{name:?}");
        }
        let notes = TextRules {
            required: false,
            max: 100,
            multiline: true,
        };
        assert_eq!(
            clean("line 1\nline 2", notes),
            Ok("line 1\nline 2".to_owned())
        );
        assert_eq!(clean("", notes), Ok(String::new()));
    }
}
