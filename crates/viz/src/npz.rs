//! numpy `.npz` archives: a zip of `.npy` files, stored without compression (what
//! `numpy.savez` writes), so `numpy.load("x.npz")["name"]` reads each array.
//!
//! Plain zip (not zip64): every entry and the whole archive must stay below 4 GiB, and an
//! archive holds at most 65,535 arrays; a larger export is refused with a message saying so.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use run_folder::{IoContext, PendingFile, RunFolderError};

use crate::error::VizError;
use crate::npy::validate_npy;

/// Writes `entries` (array name without `.npy`, the `.npy` file's bytes) as an `.npz` at
/// `path`, through a temp file. Returns the archive's size in bytes.
///
/// Every entry is checked to be a whole `.npy` file first (header, and data length = shape x
/// dtype size): a truncated snapshot would otherwise be packed and only fail in numpy. On
/// any error nothing is written.
pub fn write_npz(path: &Path, entries: &[(String, Vec<u8>)]) -> Result<u64, VizError> {
    for (name, bytes) in entries {
        check_entry(path, name, None, bytes)?;
    }
    pack(path, entries)
}

/// [`write_npz`] from `.npy` files on disk: `files` are (array name, file); an invalid file
/// is named by its path in the error.
pub fn write_npz_files(path: &Path, files: &[(String, PathBuf)]) -> Result<u64, VizError> {
    let mut entries = Vec::with_capacity(files.len());
    for (name, file) in files {
        let bytes = std::fs::read(file).io_context("read", file)?;
        check_entry(path, name, Some(file.as_path()), &bytes)?;
        entries.push((name.clone(), bytes));
    }
    pack(path, &entries)
}

fn check_entry(
    archive: &Path,
    name: &str,
    file: Option<&Path>,
    bytes: &[u8],
) -> Result<(), VizError> {
    let shown = PathBuf::from(format!("{name}.npy"));
    validate_npy(file.unwrap_or(shown.as_path()), bytes)
        .map(|_| ())
        .map_err(|e| VizError::BadArray {
            archive: archive.to_owned(),
            entry: match file {
                Some(file) => format!("{name} ({})", file.display()),
                None => name.to_owned(),
            },
            problem: match e {
                VizError::File(RunFolderError::Format {
                    expected, found, ..
                }) => format!("expected {expected}, found {found}"),
                other => other.to_string(),
            },
        })
}

fn pack(path: &Path, entries: &[(String, Vec<u8>)]) -> Result<u64, VizError> {
    let too_big = |what: String| {
        Err(VizError::frame(
            path,
            format!(
                "{what}: plain zip stops at 4 GiB and 65,535 entries; export fewer epochs (--epoch N)"
            ),
        ))
    };
    if entries.len() > usize::from(u16::MAX) {
        return too_big(format!("{} arrays", entries.len()));
    }
    let pending = PendingFile::new(path)?;
    let file = std::fs::File::create(pending.path()).io_context("create", pending.path())?;
    let mut out = BufWriter::new(file);
    let mut central = Vec::new();
    let mut offset: u64 = 0;
    for (name, bytes) in entries {
        let name = format!("{name}.npy");
        let size = match u32::try_from(bytes.len()) {
            Ok(s) if s < u32::MAX => s,
            _ => return too_big(format!("array {name} of {} bytes", bytes.len())),
        };
        let Ok(local_offset) = u32::try_from(offset) else {
            return too_big(format!("an archive of more than {offset} bytes"));
        };
        let crc = crc32fast::hash(bytes);
        let name_len = u16::try_from(name.len()).unwrap_or(u16::MAX);
        let name_bytes = &name.as_bytes()[..usize::from(name_len)];
        // Local file header.
        let mut head = Vec::with_capacity(30 + name_bytes.len());
        head.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common_fields(&mut head, crc, size, name_len);
        head.extend_from_slice(name_bytes);
        out.write_all(&head).io_context("write", path)?;
        out.write_all(bytes).io_context("write", path)?;
        offset += head.len() as u64 + u64::from(size);
        // Its central directory record.
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // made by: zip 2.0
        common_fields(&mut central, crc, size, name_len);
        central.extend_from_slice(&0u16.to_le_bytes()); // comment length
        central.extend_from_slice(&0u16.to_le_bytes()); // disk number
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&local_offset.to_le_bytes());
        central.extend_from_slice(name_bytes);
    }
    let (Ok(cd_offset), Ok(cd_size)) = (u32::try_from(offset), u32::try_from(central.len())) else {
        return too_big(format!("an archive of more than {offset} bytes"));
    };
    let count = u16::try_from(entries.len()).unwrap_or(u16::MAX);
    out.write_all(&central).io_context("write", path)?;
    let mut end = Vec::with_capacity(22);
    end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes()); // this disk
    end.extend_from_slice(&0u16.to_le_bytes()); // disk with the directory
    end.extend_from_slice(&count.to_le_bytes());
    end.extend_from_slice(&count.to_le_bytes());
    end.extend_from_slice(&cd_size.to_le_bytes());
    end.extend_from_slice(&cd_offset.to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes()); // comment length
    out.write_all(&end).io_context("write", path)?;
    out.flush().io_context("write", path)?;
    drop(out);
    pending.commit()?;
    Ok(offset + central.len() as u64 + end.len() as u64)
}

/// The fields local headers and central records share, from "version needed" to "extra
/// length": stored (method 0), dated 1980-01-01 so that the same arrays give the same bytes.
fn common_fields(buf: &mut Vec<u8>, crc: u32, size: u32, name_len: u16) {
    buf.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0
    buf.extend_from_slice(&0u16.to_le_bytes()); // flags
    buf.extend_from_slice(&0u16.to_le_bytes()); // method: stored
    buf.extend_from_slice(&0u16.to_le_bytes()); // time 00:00
    buf.extend_from_slice(&0x0021u16.to_le_bytes()); // date 1980-01-01
    buf.extend_from_slice(&crc.to_le_bytes());
    buf.extend_from_slice(&size.to_le_bytes()); // compressed size
    buf.extend_from_slice(&size.to_le_bytes()); // uncompressed size
    buf.extend_from_slice(&name_len.to_le_bytes());
    buf.extend_from_slice(&0u16.to_le_bytes()); // extra length
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest `.npy` of `data` as uint8, shape `(n,)`, written out by hand from the
    /// format spec: magic, version 1.0, header length 58 (the 57-byte dict for 3 items and
    /// '\n'); numpy reads unaligned headers.
    fn tiny_npy(data: &[u8]) -> Vec<u8> {
        let dict = format!(
            "{{'descr': '|u1', 'fortran_order': False, 'shape': ({},), }}",
            data.len()
        );
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&((dict.len() + 1) as u16).to_le_bytes());
        out.extend_from_slice(dict.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn an_archive_has_the_zip_layout_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npz");
        let npy = tiny_npy(b"abc");
        assert_eq!(npy.len(), 10 + 58 + 3);
        let size = write_npz(&path, &[("x".into(), npy.clone())]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, size);
        // Local header (30 bytes) + "x.npy" + data (71), central record (46) + name, end (22).
        assert_eq!(bytes.len(), 30 + 5 + 71 + 46 + 5 + 22);
        assert_eq!(&bytes[..4], b"PK\x03\x04");
        assert_eq!(&bytes[30..35], b"x.npy");
        assert_eq!(&bytes[35..106], &npy[..]);
        assert_eq!(&bytes[106..110], b"PK\x01\x02");
        let end = &bytes[bytes.len() - 22..];
        assert_eq!(&end[..4], b"PK\x05\x06");
        assert_eq!(u16::from_le_bytes([end[10], end[11]]), 1, "one entry");
        assert_eq!(
            u32::from_le_bytes([end[16], end[17], end[18], end[19]]),
            106,
            "directory offset"
        );
        let crc = u32::from_le_bytes([bytes[14], bytes[15], bytes[16], bytes[17]]);
        // Python's zlib.crc32 of the same 71 bytes.
        assert_eq!(crc, 0x7f2c_fc1e, "crc32 of the .npy");
    }

    /// A `.npy` cut short by 3 bytes (an interrupted copy) is refused, naming the array and
    /// the byte counts, and neither the archive nor a temp file is left.
    #[test]
    fn a_truncated_npy_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("embeddings.npz");
        let good = tiny_npy(b"abcdef");
        let cut = good[..good.len() - 3].to_vec();
        let err = write_npz(
            &path,
            &[
                ("val_labels".into(), good.clone()),
                ("val_epoch_001".into(), cut.clone()),
            ],
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            format!(
                "{}: cannot pack array val_epoch_001: expected 6 bytes of data for shape (6,) \
                 ('|u1'), found 3 bytes (truncated or padded file); nothing was written",
                path.display()
            )
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        // From files: the error names the file on disk.
        let file = dir.path().join("epoch_001.npy");
        std::fs::write(&file, &cut).unwrap();
        let err = write_npz_files(&path, &[("val_epoch_001".into(), file.clone())])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "{}: cannot pack array val_epoch_001 ({}): expected 6 bytes of data for shape \
                 (6,) ('|u1'), found 3 bytes (truncated or padded file); nothing was written",
                path.display(),
                file.display()
            )
        );
        assert!(!path.exists());

        // Not a .npy at all, and a dtype without a size.
        let err = write_npz(&path, &[("x".into(), b"abc".to_vec())])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot pack array x: expected a .npy file starting with the magic"),
            "{err}"
        );
        let mut object = tiny_npy(b"abc");
        let at = object.windows(5).position(|w| w == b"'|u1'").unwrap();
        object[at..at + 5].copy_from_slice(b"'|O' ");
        let err = write_npz(&path, &[("x".into(), object)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a fixed-size dtype") && err.contains("'|O'"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "only epoch_001.npy"
        );

        // The untruncated files pack.
        std::fs::write(&file, &good).unwrap();
        write_npz_files(&path, &[("val_epoch_001".into(), file)]).unwrap();
        assert!(path.exists());
    }
}
