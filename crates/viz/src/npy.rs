//! numpy `.npy` files, format version 1.0 for writing (1.0 to 3.0 for reading),
//! little-endian and C order only: the layout the training loop writes and
//! `numpy.load` reads without options.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use run_folder::{IoContext, write_atomic};

use crate::error::VizError;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Data must start at a multiple of this many bytes (numpy format spec).
const ALIGN: usize = 64;

/// Writes a float32 array (`shape` in C order) as `.npy` v1.0, creating the
/// parent folder if needed; the file appears only once complete.
pub fn write_npy_f32(path: &Path, data: &[f32], shape: &[usize]) -> Result<(), VizError> {
    check_len(path, data.len(), shape)?;
    let mut bytes = header("<f4", shape);
    bytes.reserve(data.len() * 4);
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    Ok(write_atomic(path, &bytes)?)
}

/// Writes an int64 array (`shape` in C order) as `.npy` v1.0, creating the
/// parent folder if needed; the file appears only once complete.
pub fn write_npy_i64(path: &Path, data: &[i64], shape: &[usize]) -> Result<(), VizError> {
    check_len(path, data.len(), shape)?;
    let mut bytes = header("<i8", shape);
    bytes.reserve(data.len() * 8);
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    Ok(write_atomic(path, &bytes)?)
}

/// Reads a little-endian float32, C-order `.npy` file; returns the values and the shape.
pub fn read_npy_f32(path: &Path) -> Result<(Vec<f32>, Vec<usize>), VizError> {
    let (bytes, info) = read_checked(path, "<f4", "little-endian float32")?;
    let data = bytes[info.data_offset..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((data, info.shape))
}

/// Reads a little-endian int64, C-order `.npy` file; returns the values and the shape.
pub fn read_npy_i64(path: &Path) -> Result<(Vec<i64>, Vec<usize>), VizError> {
    let (bytes, info) = read_checked(path, "<i8", "little-endian int64")?;
    let data = bytes[info.data_offset..]
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    Ok((data, info.shape))
}

/// What the header of a `.npy` file says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NpyInfo {
    pub descr: String,
    pub shape: Vec<usize>,
    pub data_offset: usize,
}

/// Reads only the header, and checks the file length against it, so a run
/// folder can be validated before anything is rendered.
pub(crate) fn read_npy_info(path: &Path) -> Result<NpyInfo, VizError> {
    let mut file = File::open(path).io_context("open", path)?;
    let file_len = file.metadata().io_context("read", path)?.len();
    let mut prefix = Vec::with_capacity(ALIGN * 2);
    (&mut file)
        .take(12)
        .read_to_end(&mut prefix)
        .io_context("read", path)?;
    let header_end = header_end(path, &prefix)?;
    let mut head = prefix;
    (&mut file)
        .take((header_end - head.len().min(header_end)) as u64)
        .read_to_end(&mut head)
        .io_context("read", path)?;
    let info = parse_header(path, &head)?;
    check_data_len(
        path,
        &info,
        file_len as usize - info.data_offset.min(file_len as usize),
    )?;
    Ok(info)
}

fn read_checked(path: &Path, descr: &str, what: &str) -> Result<(Vec<u8>, NpyInfo), VizError> {
    let bytes = std::fs::read(path).io_context("read", path)?;
    let info = parse_header(path, &bytes)?;
    if info.descr != descr {
        return Err(VizError::format(
            path,
            format!("dtype '{descr}' ({what})"),
            format!("'{}'", info.descr),
        ));
    }
    check_data_len(path, &info, bytes.len() - info.data_offset)?;
    Ok((bytes, info))
}

fn check_len(path: &Path, len: usize, shape: &[usize]) -> Result<(), VizError> {
    let want = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if want != Some(len) {
        return Err(VizError::format(
            path,
            format!(
                "{} values for shape {}",
                want.map_or("too many".into(), |w| w.to_string()),
                shape_str(shape)
            ),
            format!("{len} values"),
        ));
    }
    Ok(())
}

fn check_data_len(path: &Path, info: &NpyInfo, data_len: usize) -> Result<(), VizError> {
    let item = dtype_size(&info.descr).ok_or_else(|| {
        VizError::format(
            path,
            "a fixed-size dtype such as '<f4', '<i8' or '|u1'",
            format!("'{}'", info.descr),
        )
    })?;
    let want = info
        .shape
        .iter()
        .try_fold(item, |a: usize, &d| a.checked_mul(d));
    if want != Some(data_len) {
        return Err(VizError::format(
            path,
            format!(
                "{} bytes of data for shape {} ('{}')",
                want.map_or("an impossible number of".into(), |w| w.to_string()),
                shape_str(&info.shape),
                info.descr
            ),
            format!("{data_len} bytes (truncated or padded file)"),
        ));
    }
    Ok(())
}

/// Bytes per item of a numpy dtype string (`'<f4'`, `'|u1'`, `'<c16'`, `'<U5'`): an
/// optional byte-order mark, a kind letter and the item size in bytes (in characters of 4
/// bytes for `U`). `None` for what has no fixed size here (objects, datetimes with units,
/// structured dtypes).
fn dtype_size(descr: &str) -> Option<usize> {
    let rest = descr.strip_prefix(['<', '>', '|', '=']).unwrap_or(descr);
    let mut chars = rest.chars();
    let kind = chars.next()?;
    let digits = chars.as_str();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: usize = digits.parse().ok()?;
    match kind {
        'b' | 'i' | 'u' | 'f' | 'c' | 'S' | 'a' | 'V' => Some(n),
        'U' => n.checked_mul(4),
        _ => None,
    }
}

/// Checks that `bytes` are a whole `.npy` file: magic, version, a readable C-order header
/// and exactly as many data bytes as its shape and dtype call for. `path` only names the
/// file in the error.
pub(crate) fn validate_npy(path: &Path, bytes: &[u8]) -> Result<NpyInfo, VizError> {
    let info = parse_header(path, bytes)?;
    check_data_len(path, &info, bytes.len() - info.data_offset)?;
    Ok(info)
}

/// numpy's spelling of a shape tuple: `(4,)`, `(2, 3)`, `()`.
fn shape_str(shape: &[usize]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dict = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': {}, }}",
        shape_str(shape)
    );
    // magic + version + u16 length + dict + '\n', padded with spaces to the alignment.
    let unpadded = MAGIC.len() + 2 + 2 + dict.len() + 1;
    let pad = (ALIGN - unpadded % ALIGN) % ALIGN;
    let header_len = dict.len() + pad + 1;
    let mut out = Vec::with_capacity(unpadded + pad);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    // A dict longer than 65535 bytes would need format 2.0; shapes never get near that.
    out.extend_from_slice(&(header_len as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(out.len() + pad, b' ');
    out.push(b'\n');
    out
}

/// Byte offset where the data starts, from the fixed-size prefix.
fn header_end(path: &Path, bytes: &[u8]) -> Result<usize, VizError> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        let shown: Vec<u8> = bytes.iter().take(6).copied().collect();
        return Err(VizError::format(
            path,
            "a .npy file starting with the magic bytes \\x93NUMPY",
            format!("{}", shown.escape_ascii()),
        ));
    }
    match bytes[6] {
        1 => Ok(10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        2 | 3 if bytes.len() >= 12 => {
            Ok(12 + u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize)
        }
        v => Err(VizError::format(
            path,
            ".npy format version 1, 2 or 3",
            format!("version {v}.{}", bytes[7]),
        )),
    }
}

fn parse_header(path: &Path, bytes: &[u8]) -> Result<NpyInfo, VizError> {
    let end = header_end(path, bytes)?;
    let start = if bytes[6] == 1 { 10 } else { 12 };
    let dict = bytes.get(start..end).ok_or_else(|| {
        VizError::format(
            path,
            format!("a header of {} bytes", end - start),
            "a shorter file",
        )
    })?;
    let dict = std::str::from_utf8(dict)
        .map_err(|_| VizError::format(path, "a text header dictionary", "non-UTF-8 bytes"))?;
    let bad = |what: &str| {
        VizError::format(
            path,
            what.to_string(),
            format!("header {:?}", dict.trim_end()),
        )
    };

    let descr = dict_value(dict, "descr").ok_or_else(|| bad("a 'descr' entry"))?;
    let quote = descr
        .chars()
        .next()
        .filter(|c| *c == '\'' || *c == '"')
        .ok_or_else(|| bad("a quoted 'descr'"))?;
    let descr = descr[1..]
        .split(quote)
        .next()
        .ok_or_else(|| bad("a quoted 'descr'"))?
        .to_string();

    let order = dict_value(dict, "fortran_order").ok_or_else(|| bad("a 'fortran_order' entry"))?;
    if order.starts_with("True") {
        return Err(VizError::format(
            path,
            "C order ('fortran_order': False)",
            "'fortran_order': True",
        ));
    } else if !order.starts_with("False") {
        return Err(bad("'fortran_order': False"));
    }

    let shape = dict_value(dict, "shape").ok_or_else(|| bad("a 'shape' entry"))?;
    let inner = shape
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("a shape tuple"))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("a shape tuple of non-negative integers"))?;

    Ok(NpyInfo {
        descr,
        shape,
        data_offset: end,
    })
}

/// The text right after `'key':` in a header dictionary.
fn dict_value<'h>(dict: &'h str, key: &str) -> Option<&'h str> {
    let at = dict
        .find(&format!("'{key}'"))
        .or_else(|| dict.find(&format!("\"{key}\"")))?;
    let rest = dict[at + key.len() + 2..].trim_start().strip_prefix(':')?;
    Some(rest.trim_start())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
    }

    /// Expected bytes derived by hand from the numpy format spec: the dict
    /// below is 59 characters, 6 magic + 2 version + 2 length + 59 + '\n' = 70,
    /// so 58 spaces pad it to 128 and HEADER_LEN = 128 - 10 = 118 = 0x76.
    #[test]
    fn f32_header_matches_the_spec() {
        let dir = tmp();
        let path = dir.path().join("a.npy");
        write_npy_f32(&path, &[1.0, 2.0, 3.0, 4.0, 5.0, -0.5], &[2, 3]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let mut want =
            b"\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
                .to_vec();
        want.extend(std::iter::repeat_n(b' ', 58));
        want.push(b'\n');
        assert_eq!(want.len(), 128);
        assert_eq!(&bytes[..128], &want[..]);
        assert_eq!(&bytes[128..132], &[0x00, 0x00, 0x80, 0x3f]); // 1.0f32 little-endian
        assert_eq!(&bytes[148..152], &[0x00, 0x00, 0x00, 0xbf]); // -0.5f32
        assert_eq!(bytes.len(), 128 + 6 * 4);
    }

    /// Dict is 57 characters: 10 + 57 + 1 = 68, 60 spaces pad it to 128.
    #[test]
    fn i64_header_matches_the_spec() {
        let dir = tmp();
        let path = dir.path().join("labels.npy");
        write_npy_i64(&path, &[0, 1, -2, 300], &[4]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let mut want =
            b"\x93NUMPY\x01\x00\x76\x00{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }"
                .to_vec();
        want.extend(std::iter::repeat_n(b' ', 60));
        want.push(b'\n');
        assert_eq!(&bytes[..128], &want[..]);
        assert_eq!(
            &bytes[128 + 16..128 + 24],
            &[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(&bytes[128 + 24..], &[0x2c, 0x01, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn round_trip_and_header_info() {
        let dir = tmp();
        let path = dir.path().join("nested/e.npy");
        let data: Vec<f32> = (0..35).map(|i| i as f32 * 0.25 - 3.0).collect();
        write_npy_f32(&path, &data, &[7, 5]).unwrap();
        assert_eq!(read_npy_f32(&path).unwrap(), (data, vec![7, 5]));
        let info = read_npy_info(&path).unwrap();
        assert_eq!(
            (info.descr.as_str(), info.shape.as_slice(), info.data_offset),
            ("<f4", &[7, 5][..], 128)
        );

        let labels = vec![i64::MIN, -1, 0, 9, i64::MAX];
        let lpath = dir.path().join("l.npy");
        write_npy_i64(&lpath, &labels, &[5]).unwrap();
        assert_eq!(read_npy_i64(&lpath).unwrap(), (labels, vec![5]));

        // No temp files left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn writer_rejects_a_shape_that_does_not_match_the_data() {
        let dir = tmp();
        let path = dir.path().join("bad.npy");
        let err = write_npy_f32(&path, &[1.0; 5], &[2, 3])
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.npy") && err.contains("6 values"), "{err}");
        assert!(!path.exists());
    }

    #[test]
    fn corrupt_files_are_rejected_naming_the_file() {
        let dir = tmp();
        let good = dir.path().join("good.npy");
        write_npy_f32(&good, &[1.0; 6], &[2, 3]).unwrap();
        let bytes = std::fs::read(&good).unwrap();

        let magic = dir.path().join("badmagic.npy");
        let mut b = bytes.clone();
        b[1] = b'X';
        std::fs::write(&magic, &b).unwrap();
        let err = read_npy_f32(&magic).unwrap_err().to_string();
        assert!(
            err.contains("badmagic.npy") && err.contains("NUMPY"),
            "{err}"
        );

        let short = dir.path().join("truncated.npy");
        std::fs::write(&short, &bytes[..bytes.len() - 3]).unwrap();
        let err = read_npy_f32(&short).unwrap_err().to_string();
        assert!(
            err.contains("truncated.npy") && err.contains("24 bytes"),
            "{err}"
        );
        let err = read_npy_info(&short).unwrap_err().to_string();
        assert!(err.contains("truncated.npy"), "{err}");

        let tiny = dir.path().join("tiny.npy");
        std::fs::write(&tiny, &bytes[..4]).unwrap();
        assert!(
            read_npy_f32(&tiny)
                .unwrap_err()
                .to_string()
                .contains("tiny.npy")
        );

        let err = read_npy_i64(&good).unwrap_err().to_string();
        assert!(
            err.contains("good.npy") && err.contains("'<i8'") && err.contains("'<f4'"),
            "{err}"
        );

        let fortran = dir.path().join("fortran.npy");
        let mut b = bytes.clone();
        let at = b.windows(5).position(|w| w == b"False").unwrap();
        b[at..at + 5].copy_from_slice(b"True ");
        std::fs::write(&fortran, &b).unwrap();
        let err = read_npy_f32(&fortran).unwrap_err().to_string();
        assert!(
            err.contains("fortran.npy") && err.contains("C order"),
            "{err}"
        );

        let missing = dir.path().join("missing.npy");
        assert!(
            read_npy_f32(&missing)
                .unwrap_err()
                .to_string()
                .contains("missing.npy")
        );
    }

    /// numpy itself as the reader, when this machine has it.
    #[test]
    fn numpy_loads_what_we_write() {
        let probe = std::process::Command::new("python3")
            .args(["-c", "import numpy"])
            .output();
        if !matches!(&probe, Ok(o) if o.status.success()) {
            eprintln!("skipped: python3 with numpy is not available on this machine");
            return;
        }
        let dir = tmp();
        let f = dir.path().join("f.npy");
        let l = dir.path().join("l.npy");
        write_npy_f32(&f, &[1.5, -2.0, 0.25, 3.0, 4.0, 5.0], &[2, 3]).unwrap();
        write_npy_i64(&l, &[7, -1, 2, 1 << 40], &[4]).unwrap();
        let script = format!(
            "import numpy as np\n\
             f = np.load({:?}); l = np.load({:?})\n\
             assert f.dtype == np.float32 and f.shape == (2, 3), (f.dtype, f.shape)\n\
             assert f.tolist() == [[1.5, -2.0, 0.25], [3.0, 4.0, 5.0]], f\n\
             assert l.dtype == np.int64 and l.tolist() == [7, -1, 2, 1 << 40], l\n",
            f.to_string_lossy(),
            l.to_string_lossy()
        );
        let out = std::process::Command::new("python3")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        /// A header dictionary as numpy could write it, or a broken one: keys in any order,
        /// either quote, any spacing, shapes of 0 to 3 dimensions with optional trailing
        /// comma and `L` suffixes, and sometimes junk in any slot.
        fn dict() -> impl Strategy<Value = (String, Option<(String, Vec<usize>)>)> {
            let descr = prop_oneof![
                "<f4",
                "<i8",
                "|u1",
                "<f8",
                ">i2",
                "<c16",
                "|O",
                "<U3",
                "\\PC{0,4}"
            ];
            let shape = prop::collection::vec(0usize..5, 0..4);
            (
                descr,
                shape,
                any::<bool>(),
                any::<bool>(),
                prop_oneof![Just(""), Just(" "), Just("  ")],
                any::<prop::sample::Index>(),
                prop::option::of("\\PC{0,8}"),
            )
                .prop_map(|(descr, shape, double, long, space, order, junk)| {
                    let q = if double { '"' } else { '\'' };
                    let dims: Vec<String> = shape
                        .iter()
                        .map(|d| if long { format!("{d}L") } else { d.to_string() })
                        .collect();
                    let tuple = match dims.len() {
                        1 => format!("({},)", dims[0]),
                        _ => format!("({})", dims.join(", ")),
                    };
                    let mut entries = [
                        format!("{q}descr{q}:{space}{q}{descr}{q}"),
                        format!("{q}fortran_order{q}:{space}False"),
                        format!("{q}shape{q}:{space}{tuple}"),
                    ];
                    let first = order.index(3);
                    entries.swap(0, first);
                    let valid = junk.is_none();
                    if let Some(junk) = junk {
                        let at = order.index(entries.len());
                        entries[at] = junk;
                    }
                    let text = format!("{{{}, }}", entries.join(",{space}"));
                    (text, valid.then_some((descr, shape)))
                })
        }

        fn npy(version: u8, dict: &str, data_len: usize) -> Vec<u8> {
            let mut out = b"\x93NUMPY".to_vec();
            out.extend_from_slice(&[version, 0]);
            let len = dict.len() + 1;
            if version == 1 {
                out.extend_from_slice(&(len as u16).to_le_bytes());
            } else {
                out.extend_from_slice(&(len as u32).to_le_bytes());
            }
            out.extend_from_slice(dict.as_bytes());
            out.push(b'\n');
            out.extend(std::iter::repeat_n(7u8, data_len));
            out
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1000))]

            /// Any bytes, and any bytes after a valid magic: an answer, never a panic.
            #[test]
            fn any_bytes_validate_or_fail_cleanly(
                bytes in prop::collection::vec(any::<u8>(), 0..200),
                magic in any::<bool>(),
                version in 0u8..5,
            ) {
                let mut b = if magic { npy(version, "", 0)[..8].to_vec() } else { Vec::new() };
                b.extend(bytes);
                if let Err(e) = validate_npy(Path::new("x.npy"), &b) {
                    prop_assert!(e.to_string().starts_with("x.npy: "), "{}", e);
                }
            }

            /// The oracle: a header written independently of [`header`] (any key order,
            /// quote style, spacing) gives back its dtype and shape, and the data length is
            /// checked against shape x the dtype's size, worked out here by hand.
            #[test]
            fn headers_parse_back_and_data_length_is_checked(
                (text, want) in dict(),
                version in 1u8..4,
                extra in -3isize..3,
            ) {
                let size_of = |descr: &str| match descr {
                    "<f4" => Some(4), "<i8" | "<f8" => Some(8), "|u1" => Some(1),
                    ">i2" => Some(2), "<c16" => Some(16), "<U3" => Some(12), _ => None,
                };
                let expected_len = want.as_ref().and_then(|(d, shape)| {
                    size_of(d).map(|s| s * shape.iter().product::<usize>())
                });
                let data_len = expected_len.map_or(8, |n| (n as isize + extra).max(0) as usize);
                let bytes = npy(version, &text, data_len);
                let result = validate_npy(Path::new("x.npy"), &bytes);
                match (&want, expected_len) {
                    (Some((descr, shape)), Some(n)) => {
                        if data_len == n {
                            let info = result.unwrap();
                            prop_assert_eq!(&info.descr, descr);
                            prop_assert_eq!(&info.shape, shape);
                            prop_assert_eq!(info.data_offset, bytes.len() - n);
                        } else {
                            let msg = result.unwrap_err().to_string();
                            prop_assert!(msg.contains(&format!("{n} bytes of data")), "{}", msg);
                        }
                    }
                    _ => {
                        if let Err(e) = result {
                            prop_assert!(e.to_string().starts_with("x.npy: "), "{}", e);
                        }
                    }
                }
            }
        }
    }
}
