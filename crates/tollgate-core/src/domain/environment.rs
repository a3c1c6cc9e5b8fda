use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::InputError;

/// Test and live are separate worlds: separate keys, separate stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Test,
    Live,
}

impl Environment {
    pub const ALL: [Environment; 2] = [Environment::Test, Environment::Live];

    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Test => "test",
            Environment::Live => "live",
        }
    }

    pub fn parse(field: &'static str, s: &str) -> Result<Self, InputError> {
        match s.trim() {
            "test" => Ok(Environment::Test),
            "live" => Ok(Environment::Live),
            _ => Err(InputError::new(field, "must be `test` or `live`")),
        }
    }
}

impl std::fmt::Display for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Environment {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Environment::parse("env", s)
    }
}
