/// Bad input, naming the field and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct InputError {
    pub field: std::borrow::Cow<'static, str>,
    pub rule: String,
    /// The value is well-formed but belongs to the other environment (a live key in test).
    pub environment_mismatch: bool,
}

impl InputError {
    pub fn new(field: impl Into<std::borrow::Cow<'static, str>>, rule: impl Into<String>) -> Self {
        InputError {
            field: field.into(),
            rule: rule.into(),
            environment_mismatch: false,
        }
    }

    pub fn environment_mismatch(field: &'static str, rule: impl Into<String>) -> Self {
        InputError {
            field: field.into(),
            rule: rule.into(),
            environment_mismatch: true,
        }
    }
}
