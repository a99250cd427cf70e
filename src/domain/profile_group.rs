//! Profile group rules.

/// Longest accepted group name, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// The name rules as a regular expression, published in the OpenAPI document: at least one
/// character that is neither white space nor a control character, and no control characters.
/// (The length limit is `maxLength`.) `GroupName::parse` applies the same rules.
pub const NAME_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";

/// A validated profile-group name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupName(String);

impl GroupName {
    /// Validates a name; the error is the list of human-readable messages the API returns.
    pub fn parse(raw: Option<&str>) -> Result<GroupName, Vec<String>> {
        let Some(name) = raw else {
            return Err(vec!["Name can't be blank".to_string()]);
        };
        let mut errors = Vec::new();
        if name.trim().is_empty() {
            errors.push("Name can't be blank".to_string());
        }
        if name.chars().count() > MAX_NAME_CHARS {
            errors.push(format!("Name is too long (maximum is {MAX_NAME_CHARS} characters)"));
        }
        // NUL and other control characters are never intended in a display name, and
        // PostgreSQL cannot store NUL in text at all.
        if name.chars().any(|c| c.is_control()) {
            errors.push("Name can't contain control characters".to_string());
        }
        if errors.is_empty() {
            Ok(GroupName(name.to_string()))
        } else {
            Err(errors)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_and_unicode_names() {
        for name in [
            "Main Brand",
            "🚀 Launch",
            "שלום עולם",
            "x",
            &"a".repeat(255),
            &"é".repeat(255),
        ] {
            assert_eq!(GroupName::parse(Some(name)).unwrap().as_str(), name);
        }
    }

    #[test]
    fn the_published_pattern_agrees_with_the_rules() {
        let re = regex::Regex::new(NAME_PATTERN).unwrap();
        for s in [
            "a", " a ", "🚀", "שלום", "\u{a0}x", "", " ", "\t\n", "\u{3000}", "\u{a0}", "a\u{0}", "\u{85}", "x\u{9f}",
            "\u{1f}",
        ] {
            assert_eq!(re.is_match(s), GroupName::parse(Some(s)).is_ok(), "{s:?}");
        }
    }

    #[test]
    fn rejects_blank_long_and_control() {
        assert_eq!(GroupName::parse(None).unwrap_err(), vec!["Name can't be blank"]);
        assert_eq!(GroupName::parse(Some("  \t")).unwrap_err()[0], "Name can't be blank");
        assert_eq!(
            GroupName::parse(Some(&"a".repeat(256))).unwrap_err(),
            vec!["Name is too long (maximum is 255 characters)"]
        );
        assert!(GroupName::parse(Some("a\0b")).is_err());
        assert!(GroupName::parse(Some("a\u{7}b")).is_err());
    }
}
