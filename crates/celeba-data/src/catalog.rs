//! What a data set folder lists: identities and their image files, before anything is
//! selected, checked or decoded.
//!
//! Two layouts: CelebA's (`img_align_celeba/` plus `identity_CelebA.txt`, optionally
//! `list_eval_partition.txt`) and one folder per class.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::error::DataError;

pub(crate) const IMAGE_DIR: &str = "img_align_celeba";
pub(crate) const IDENTITY_FILE: &str = "identity_CelebA.txt";
pub(crate) const PARTITION_FILE: &str = "list_eval_partition.txt";
const IDENTITY_LINE: &str = "`<image file> <integer id>`, e.g. `000001.jpg 2880`";
const PARTITION_LINE: &str = "`<image file> <0, 1 or 2>`, e.g. `000001.jpg 0`";
/// File extensions (lower case) a class folder's images may have.
pub(crate) const FOLDER_EXTENSIONS: [&str; 5] = ["jpg", "jpeg", "png", "pgm", "bmp"];
/// How many offending lines or files a warning names before giving only the count.
const SHOWN: usize = 5;

/// One identity (class) and its image files.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// The class name: the id as text (CelebA) or the folder name.
    pub name: String,
    /// The ChaCha8 stream of this identity's train/val shuffle: the id itself for CelebA (so
    /// splits match earlier versions), a hash of the name for folders.
    pub stream: u64,
    /// Paths relative to [`Catalog::base`], sorted.
    pub files: Vec<String>,
    /// Whether any of its images is in CelebA's test partition (2).
    pub in_test_partition: bool,
}

/// Everything a data set folder lists.
#[derive(Debug, Clone)]
pub(crate) struct Catalog {
    /// The folder image paths are relative to.
    pub base: PathBuf,
    /// The file (identity list) or folder (class folders) errors should point at.
    pub source: PathBuf,
    /// Identities in class order: ascending id (CelebA) or by name (folders).
    pub identities: Vec<Identity>,
    /// Whether a partition file gave [`Identity::in_test_partition`].
    pub has_partition: bool,
    pub warnings: Vec<String>,
    /// Identities with images both in and out of the test partition, as a warning; it only
    /// matters (and is only shown) when the partition picks the held-out identities.
    pub partition_warning: Option<String>,
    /// The list files read (identity file, partition file if present): with the images, what
    /// a loaded set depends on.
    pub list_files: Vec<PathBuf>,
}

fn require_dir(path: &Path, what: &'static str, expected: String) -> Result<(), DataError> {
    if path.is_dir() {
        Ok(())
    } else {
        Err(DataError::Missing {
            what,
            path: path.to_owned(),
            expected,
        })
    }
}

/// Reads a CelebA-layout folder's lists.
pub(crate) fn celeba_catalog(root: &Path) -> Result<Catalog, DataError> {
    require_dir(
        root,
        "CelebA root folder",
        format!("a folder holding {IMAGE_DIR}/ and {IDENTITY_FILE}"),
    )?;
    let identity_path = root.join(IDENTITY_FILE);
    if !identity_path.is_file() {
        return Err(DataError::Missing {
            what: "identity file",
            path: identity_path,
            expected: format!("lines {IDENTITY_LINE}"),
        });
    }
    let image_dir = root.join(IMAGE_DIR);
    require_dir(
        &image_dir,
        "image folder",
        "the aligned face images named in the identity file".to_owned(),
    )?;

    let mut warnings = Vec::new();
    let pairs = read_pairs(&identity_path, IDENTITY_LINE, &mut warnings, |v| {
        v.parse::<u32>().ok()
    })?;
    let mut by_id: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for (name, id) in pairs {
        by_id.entry(id).or_default().push(name);
    }

    let partition_path = root.join(PARTITION_FILE);
    let partition = if partition_path.is_file() {
        let pairs = read_pairs(&partition_path, PARTITION_LINE, &mut warnings, |v| {
            v.parse::<u8>().ok().filter(|p| *p <= 2)
        })?;
        Some(pairs.into_iter().collect::<HashMap<String, u8>>())
    } else {
        None
    };

    let mut straddling = Vec::new();
    let identities = by_id
        .into_iter()
        .map(|(id, mut files)| {
            files.sort_unstable();
            let in_test_partition = partition.as_ref().is_some_and(|p| {
                let test = files.iter().filter(|f| p.get(*f) == Some(&2)).count();
                if test > 0 && test < files.len() {
                    straddling.push(id.to_string());
                }
                test > 0
            });
            Identity {
                name: id.to_string(),
                stream: u64::from(id),
                files,
                in_test_partition,
            }
        })
        .collect();
    let mut partition_warning = None;
    if !straddling.is_empty() {
        partition_warning = Some(format!(
            "{}: {} identities have images both in and out of the test partition (2); all \
             their images are held out: {}",
            partition_path.display(),
            straddling.len(),
            shown(&straddling)
        ));
    }
    let mut list_files = vec![identity_path.clone()];
    if partition.is_some() {
        list_files.push(partition_path);
    }
    Ok(Catalog {
        base: image_dir,
        source: identity_path,
        identities,
        has_partition: partition.is_some(),
        warnings,
        partition_warning,
        list_files,
    })
}

fn shown(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        text.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    text
}

fn looks_like_image_name(name: &str) -> bool {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| {
            let e = e.to_ascii_lowercase();
            FOLDER_EXTENSIONS.contains(&e.as_str()) || e == "ppm"
        })
}

/// Reads `<image file> <value>` lines, tolerating the variants found in the wild: a UTF-8
/// byte-order mark, CRLF endings, trailing spaces, blank lines, commas for separators, a
/// leading count line and/or a header line (e.g. `image_id identity`). An image listed twice
/// with the same value is kept once, with a warning naming the lines; with two different
/// values it is an error.
fn read_pairs<T: Copy + PartialEq + std::fmt::Display>(
    path: &Path,
    expected: &'static str,
    warnings: &mut Vec<String>,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<(String, T)>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io("read", path, e))?;
    parse_pairs(path, &text, expected, warnings, parse)
}

/// [`read_pairs`] of a file's text; `path` only names the file in errors and warnings.
fn parse_pairs<T: Copy + PartialEq + std::fmt::Display>(
    path: &Path,
    text: &str,
    expected: &'static str,
    warnings: &mut Vec<String>,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<(String, T)>, DataError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out: Vec<(String, T)> = Vec::new();
    let mut first_line: HashMap<String, (usize, usize)> = HashMap::new(); // name -> (line, out index)
    let mut duplicates = Vec::new();
    let mut in_preamble = true;
    for (number, line) in text.lines().enumerate() {
        let number = number + 1;
        let malformed = |expected| DataError::MalformedLine {
            path: path.to_owned(),
            line: number,
            content: line.trim_end().to_owned(),
            expected,
        };
        let fields: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|f| !f.is_empty())
            .collect();
        if fields.is_empty() {
            continue;
        }
        let parsed = match fields.as_slice() {
            [name, value] => parse(value).map(|v| (*name, v)),
            _ => None,
        };
        let Some((name, value)) = parsed else {
            // Before the first entry: a count line (`202599`) or a header line whose first
            // field is not an image file name. Anything else is a broken entry.
            let count_line = fields.len() == 1 && fields[0].parse::<u64>().is_ok();
            let header_line = !looks_like_image_name(fields[0]);
            if in_preamble && (count_line || header_line) {
                continue;
            }
            return Err(malformed(expected));
        };
        in_preamble = false;
        // A path separator would let the list reach outside the image folder.
        if name.contains(['/', '\\']) || name == ".." || name == "." {
            return Err(malformed("a plain file name inside img_align_celeba/"));
        }
        match first_line.get(name) {
            Some(&(first, index)) => {
                let earlier = out[index].1;
                if earlier != value {
                    return Err(DataError::MalformedLine {
                        path: path.to_owned(),
                        line: number,
                        content: format!("{} (line {first} gives {earlier})", line.trim_end()),
                        expected: "each image listed once, with one value",
                    });
                }
                duplicates.push(format!("line {number} ({name}, first on line {first})"));
            }
            None => {
                first_line.insert(name.to_owned(), (number, out.len()));
                out.push((name.to_owned(), value));
            }
        }
    }
    if !duplicates.is_empty() {
        warnings.push(format!(
            "{}: {} duplicate line(s) ignored: {}",
            path.display(),
            duplicates.len(),
            shown(&duplicates)
        ));
    }
    Ok(out)
}

/// FNV-1a, 64 bit: a stable hash (the same on every platform and release).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Reads a one-folder-per-class set: `<root>/<class>/<image>` with the extensions in
/// [`FOLDER_EXTENSIONS`] (any case). Hidden entries are ignored; other files, nested folders
/// and empty class folders are ignored with a warning.
pub(crate) fn folder_catalog(root: &Path) -> Result<Catalog, DataError> {
    require_dir(
        root,
        "image folder root",
        "a folder with one sub-folder of images per class".to_owned(),
    )?;
    let mut warnings = Vec::new();
    let mut identities = Vec::new();
    let mut odd_names = Vec::new();
    let mut ignored = Vec::new();
    let mut empty = Vec::new();
    for entry in sorted_entries(root)? {
        let Some(class) = entry
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
        else {
            odd_names.push(entry.display().to_string());
            continue;
        };
        if class.starts_with('.') {
            continue;
        }
        if !entry.is_dir() {
            ignored.push(entry.display().to_string());
            continue;
        }
        let mut files = Vec::new();
        for file in sorted_entries(&entry)? {
            let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
                odd_names.push(file.display().to_string());
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let is_image = file
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| FOLDER_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
            if file.is_dir() || !is_image {
                ignored.push(file.display().to_string());
                continue;
            }
            files.push(format!("{class}/{name}"));
        }
        if files.is_empty() {
            empty.push(class);
            continue;
        }
        identities.push(Identity {
            stream: fnv1a(class.as_bytes()),
            name: class,
            files,
            in_test_partition: false,
        });
    }
    if !odd_names.is_empty() {
        warnings.push(format!(
            "{}: {} entries with names that are not valid UTF-8 ignored: {}",
            root.display(),
            odd_names.len(),
            shown(&odd_names)
        ));
    }
    if !ignored.is_empty() {
        warnings.push(format!(
            "{}: {} entries that are not images ({}) in a class folder ignored: {}",
            root.display(),
            ignored.len(),
            FOLDER_EXTENSIONS.join(", "),
            shown(&ignored)
        ));
    }
    if !empty.is_empty() {
        warnings.push(format!(
            "{}: {} class folder(s) without images ignored: {}",
            root.display(),
            empty.len(),
            shown(&empty)
        ));
    }
    if identities.is_empty() {
        return Err(DataError::Missing {
            what: "class folder with images in",
            path: root.to_owned(),
            expected: format!(
                "sub-folders <class name>/ holding {} files",
                FOLDER_EXTENSIONS.join("/")
            ),
        });
    }
    Ok(Catalog {
        base: root.to_owned(),
        source: root.to_owned(),
        identities,
        has_partition: false,
        warnings,
        partition_warning: None,
        list_files: Vec::new(),
    })
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io("list", dir, e))? {
        let entry = entry.map_err(|e| DataError::io("list", dir, e))?;
        entries.push(entry.path());
    }
    entries.sort();
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Pairs = Result<Vec<(String, u32)>, DataError>;

    fn pairs(text: &str) -> (Pairs, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.txt");
        std::fs::write(&path, text).unwrap();
        let mut warnings = Vec::new();
        let result = read_pairs(&path, IDENTITY_LINE, &mut warnings, |v| v.parse().ok());
        (result, warnings)
    }

    #[test]
    fn variants_of_the_identity_file_read_the_same() {
        let want = vec![("a.jpg".to_owned(), 3), ("b.jpg".to_owned(), 4)];
        for text in [
            "a.jpg 3\nb.jpg 4\n",
            "a.jpg 3\r\nb.jpg 4\r\n",
            "\u{feff}image_id identity\na.jpg 3  \n\n  b.jpg\t4\n\n",
            "2\nimage_id,identity\r\na.jpg,3\r\nb.jpg,4",
        ] {
            let (result, warnings) = pairs(text);
            assert_eq!(result.unwrap(), want, "{text:?}");
            assert!(warnings.is_empty());
        }
    }

    #[test]
    fn duplicates_warn_with_lines_and_conflicts_fail() {
        let (result, warnings) = pairs("a.jpg 3\nb.jpg 4\na.jpg 3\n");
        assert_eq!(result.unwrap().len(), 2);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("line 3 (a.jpg, first on line 1)"),
            "{warnings:?}"
        );

        let (result, _) = pairs("a.jpg 3\nb.jpg 4\na.jpg 5\n");
        let msg = result.unwrap_err().to_string();
        assert!(
            msg.contains("list.txt:3") && msg.contains("line 1"),
            "{msg}"
        );
    }

    #[test]
    fn a_broken_first_entry_is_not_taken_for_a_header() {
        let (result, _) = pairs("a.jpg three\nb.jpg 4\n");
        let msg = result.unwrap_err().to_string();
        assert!(msg.contains("list.txt:1"), "{msg}");
        let (result, _) = pairs("a.jpg 3\nimage_id identity\n");
        assert!(result.unwrap_err().to_string().contains("list.txt:2"));
    }

    #[test]
    fn fnv1a_matches_the_reference_values() {
        // From the FNV reference test vectors (64-bit FNV-1a).
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn identity(text: &str) -> Result<Vec<(String, u32)>, DataError> {
            parse_pairs(
                Path::new("identity.txt"),
                text,
                IDENTITY_LINE,
                &mut Vec::new(),
                |v| v.parse::<u32>().ok(),
            )
        }

        fn partition(text: &str) -> Result<Vec<(String, u8)>, DataError> {
            parse_pairs(
                Path::new("partition.txt"),
                text,
                PARTITION_LINE,
                &mut Vec::new(),
                |v| v.parse::<u8>().ok().filter(|p| *p <= 2),
            )
        }

        /// Lines built from the pieces these files are made of, so that the cases reach past
        /// the first malformed line far more often than random text does.
        fn list_like() -> impl Strategy<Value = String> {
            let token = prop_oneof![
                "[0-9]{1,6}\\.(jpg|png|JPG)",
                "[0-9]{1,12}",
                "-?[0-9]{1,3}",
                "(image_id|identity|\\.\\.|\\.|a/b\\.jpg|\\\\x\\.jpg)",
                "\\PC{0,6}",
            ];
            let sep = prop_oneof![" ", "\t", ",", "  ", ", ", ""];
            let line = prop::collection::vec((token, sep), 0..4)
                .prop_map(|parts| parts.into_iter().map(|(t, s)| t + &s).collect::<String>());
            let end = prop_oneof!["\n", "\r\n", "\r", ""];
            (any::<bool>(), prop::collection::vec((line, end), 0..12)).prop_map(|(bom, lines)| {
                let body: String = lines.into_iter().map(|(l, e)| l + &e).collect();
                if bom { format!("\u{feff}{body}") } else { body }
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1000))]

            /// Any text at all: an answer, never a panic; an error names the file and a line
            /// of it.
            #[test]
            fn any_text_parses_or_fails_cleanly(text in "\\PC*") {
                for result in [identity(&text).map(|_| ()), partition(&text).map(|_| ())] {
                    if let Err(e) = result {
                        let msg = e.to_string();
                        prop_assert!(msg.contains(".txt:"), "{}", msg);
                    }
                }
            }

            #[test]
            fn list_like_text_parses_or_fails_cleanly(text in list_like()) {
                for result in [identity(&text).map(|_| ()), partition(&text).map(|_| ())] {
                    if let Err(e) = result {
                        let msg = e.to_string();
                        prop_assert!(msg.contains(".txt:"), "{}", msg);
                    }
                }
            }

            /// The oracle: a well-formed file in any of the tolerated spellings (count line,
            /// header line, CRLF, commas or tabs, blank lines, trailing spaces) gives back
            /// exactly the pairs it was written from, in order.
            #[test]
            fn a_well_formed_identity_file_reads_back_its_pairs(
                pairs in prop::collection::btree_map("[0-9a-z_]{1,10}\\.(jpg|png)", any::<u32>(), 0..30),
                count_line in any::<bool>(),
                header_line in any::<bool>(),
                crlf in any::<bool>(),
                sep in prop_oneof![" ", "\t", ",", " , ", "   "],
                blank_every in 0usize..5,
                trailing in prop_oneof!["", " ", "\t "],
            ) {
                let end = if crlf { "\r\n" } else { "\n" };
                let mut text = String::new();
                if count_line {
                    text.push_str(&format!("{}{end}", pairs.len()));
                }
                if header_line {
                    text.push_str(&format!("image_id{sep}identity{end}"));
                }
                for (i, (name, id)) in pairs.iter().enumerate() {
                    if blank_every > 0 && i % blank_every == 0 {
                        text.push_str(end);
                    }
                    text.push_str(&format!("{name}{sep}{id}{trailing}{end}"));
                }
                let want: Vec<(String, u32)> = pairs.into_iter().collect();
                prop_assert_eq!(identity(&text).unwrap(), want);
            }
        }
    }
}
