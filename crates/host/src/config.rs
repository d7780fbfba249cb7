//! Named config: the manifest's resolver, with its error as a deploy error.

pub(crate) use trellis_types::manifest::Configs;
use trellis_types::manifest::UndefinedConfig;

use crate::DeployError;

impl From<UndefinedConfig> for DeployError {
    fn from(e: UndefinedConfig) -> DeployError {
        DeployError::Config { field: e.field, reason: e.reason }
    }
}
