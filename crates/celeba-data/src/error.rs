use std::path::PathBuf;

/// Everything that can go wrong while reading, generating or splitting a data set.
///
/// Every variant names the file or folder involved and what was expected there, because the
/// usual fix is to correct a path or a file, and the user needs to know which one.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{what} {path} does not exist (expected {expected})")]
    Missing {
        what: &'static str,
        path: PathBuf,
        expected: String,
    },

    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}:{line}: malformed line {content:?} (expected {expected})")]
    MalformedLine {
        path: PathBuf,
        line: usize,
        content: String,
        expected: &'static str,
    },

    #[error("{list} names {count} image(s) missing from {dir}, first: {}", first.join(", "))]
    MissingImages {
        list: PathBuf,
        dir: PathBuf,
        count: usize,
        first: Vec<String>,
    },

    #[error("cannot decode image {path} (expected a readable JPEG/PNG/BMP/PNM image): {reason}")]
    Decode { path: PathBuf, reason: String },

    #[error("cannot write image {path}: {source}")]
    Encode {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },

    #[error("top_k = {requested} but {path} lists only {available} identities")]
    TopKTooLarge {
        requested: usize,
        available: usize,
        path: PathBuf,
    },

    #[error(
        "identity id(s) {} requested in `ids` do not appear in {path}",
        format_ids(ids)
    )]
    UnknownIds { ids: Vec<u32>, path: PathBuf },

    #[error("invalid [data] config: `{field}` {problem}")]
    Config {
        field: &'static str,
        problem: String,
    },

    #[error("{path}: {problem}")]
    Idx { path: PathBuf, problem: String },

    #[error(
        "{dir} holds no complete MNIST pair (expected train-images-idx3-ubyte + \
         train-labels-idx1-ubyte, or t10k-images-idx3-ubyte + t10k-labels-idx1-ubyte, \
         each optionally with .gz)"
    )]
    NoMnistPair { dir: PathBuf },

    #[error(
        "{path} describes a different synthetic set ({found}) than the config asks for \
         ({expected}); delete {dir} to regenerate it, or point `root` at another folder"
    )]
    SynthMismatch {
        path: PathBuf,
        dir: PathBuf,
        expected: String,
        found: String,
    },
}

fn format_ids(ids: &[u32]) -> String {
    const SHOWN: usize = 10;
    let mut text = ids
        .iter()
        .take(SHOWN)
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > SHOWN {
        text.push_str(&format!(" and {} more", ids.len() - SHOWN));
    }
    text
}

impl DataError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn config(field: &'static str, problem: impl Into<String>) -> Self {
        Self::Config {
            field,
            problem: problem.into(),
        }
    }
}
