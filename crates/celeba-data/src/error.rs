use std::path::PathBuf;

/// Everything that can go wrong while reading, generating or splitting a data set.
///
/// Every variant names the file or folder involved and what was expected there, because the
/// usual fix is to correct a path or a file, and the user needs to know which one. A wrapped
/// error is the [`std::error::Error::source`], not part of the message, so that a caller
/// printing the chain prints each cause once ([`with_causes`] for a one-line text).
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{what} {path} does not exist (expected {expected})")]
    Missing {
        what: &'static str,
        path: PathBuf,
        expected: String,
    },

    #[error("cannot {action} {path}")]
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

    #[error(
        "{count} of the {total} selected image(s) cannot be used, first: {}{}; fix or remove \
         them, or set on_bad_image = \"skip\" to train without them",
        first.join("; "),
        more_text(*count, first.len())
    )]
    BadImages {
        count: usize,
        total: usize,
        /// `"<path>: <reason>"` for the first few.
        first: Vec<String>,
    },

    #[error("image {path} (expected a readable JPEG/PNG/BMP/PNM image): {reason}")]
    Decode { path: PathBuf, reason: String },

    #[error("cannot write image {path}")]
    Encode {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },

    #[error("top_k = {requested} but {path} has only {available} eligible identities{detail}")]
    TopKTooLarge {
        requested: usize,
        available: usize,
        path: PathBuf,
        /// Why identities were not eligible (held out, too few images), or empty.
        detail: String,
    },

    #[error("class folder(s) {} requested in `ids` do not exist in {root}", names.join(", "))]
    UnknownClasses { names: Vec<String>, root: PathBuf },

    #[error(
        "`ids` asks for {} but they are held out for open-set evaluation ({why}); set \
         held_out = \"fraction\" or \"none\", or drop them from `ids`",
        names.join(", ")
    )]
    IdsHeldOut { names: Vec<String>, why: String },

    #[error("image cache {path}: {problem}")]
    Cache { path: PathBuf, problem: String },

    #[error("no identity is left to train on in {path}: {why}")]
    NothingSelected { path: PathBuf, why: String },

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

    /// A synthetic set would be written into a folder that is neither empty nor one we made.
    #[error("{dir} {why}: refusing to write a synthetic set into it; give a new or empty folder")]
    NotASyntheticSet { dir: PathBuf, why: String },

    /// A file of a run's `splits.json` that the data set no longer provides as it was.
    #[error("image {path} {problem}")]
    ListedFile { path: PathBuf, problem: String },

    /// The data, restricted to a run's files, splits differently from the run.
    #[error(
        "the data no longer gives the run's split: at entry {position} of its splits, \
         {file}: the run has {expected}, the data now gives {found}"
    )]
    SplitsDiffer {
        file: String,
        position: usize,
        expected: String,
        found: String,
    },
}

fn more_text(count: usize, shown: usize) -> String {
    if count > shown {
        format!(" (and {} more)", count - shown)
    } else {
        String::new()
    }
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

/// `err` and its causes on one line, `": "`-joined: for a warning, which has no chain printer.
pub(crate) fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}
