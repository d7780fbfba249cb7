//! Why a deploy failed, naming the component and the manifest field.

use trellis_cap_http_server::RouteError;

/// A deploy that could not complete. Nothing it started is left running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// A component's artifact could not be fetched or read.
    #[error("{field}: component `{component}`: cannot load image `{image}`: {reason}")]
    Image {
        /// Manifest name of the component.
        component: String,
        /// Field path of the image.
        field: String,
        /// The image reference as written.
        image: String,
        /// What went wrong.
        reason: String,
    },
    /// The artifact is not a usable component.
    #[error("{field}: component `{component}` ({image}): {reason}")]
    Invalid {
        /// Manifest name of the component.
        component: String,
        /// Field path of the image.
        field: String,
        /// The image reference.
        image: String,
        /// What is wrong, with wasmtime's words.
        reason: String,
    },
    /// A link this host cannot make.
    #[error("{field}: link from `{source_name}` to `{target}` on {interface}: {reason}")]
    Link {
        /// Source component's manifest name.
        source_name: String,
        /// Target's manifest name.
        target: String,
        /// `ns:pkg/iface,...`.
        interface: String,
        /// Field path of the link trait.
        field: String,
        /// Why.
        reason: String,
    },
    /// A config value that cannot be used.
    #[error("{field}: {reason}")]
    Config {
        /// Field path of the config entry.
        field: String,
        /// Why, naming the key.
        reason: String,
    },
    /// A secret reference could not be resolved. Never carries a value.
    #[error("{field}: component `{component}`: {reason}")]
    Secret {
        /// Manifest name of the component whose reference (or link) it is.
        component: String,
        /// Field path of the secret reference.
        field: String,
        /// Why, naming the key and the backend.
        reason: String,
    },
    /// A route could not be bound.
    #[error("{field}: {source}")]
    Route {
        /// Field path of the link trait.
        field: String,
        /// The conflict or bind failure, naming both owners.
        source: Box<RouteError>,
    },
}

impl DeployError {
    /// The manifest field at fault, if the error has one.
    pub fn field(&self) -> Option<&str> {
        match self {
            DeployError::Image { field, .. }
            | DeployError::Invalid { field, .. }
            | DeployError::Link { field, .. }
            | DeployError::Config { field, .. }
            | DeployError::Secret { field, .. }
            | DeployError::Route { field, .. } => Some(field),
        }
    }

    /// The message without the leading field path, for reports that carry the field apart.
    pub fn reason(&self) -> String {
        let full = self.to_string();
        match self.field() {
            Some(field) => full.strip_prefix(&format!("{field}: ")).map_or_else(|| full.clone(), str::to_owned),
            None => full,
        }
    }
}
