//! The preprocessed image cache: the selected images decoded, cropped and resized once into
//! fixed-size `u8` records, then memory-mapped by later runs.
//!
//! File layout (integers little-endian):
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `AFLCACHE` |
//! | 4 | format version ([`FORMAT_VERSION`]) |
//! | 4 | CRC-32 of the header JSON |
//! | 8 | header length |
//! | n | header JSON: format version, kind, crop, image side, channels, record size, count, base folder and every source file with its size and mtime |
//! | pad | zeros up to a multiple of 4096 |
//! | count x record | CHW `u8` records, in source order (a bad image's record is zeros) |
//! | m | trailer JSON: CRC-32 of every 16 MiB block of the records, and the bad images with reasons |
//! | 8 | trailer length |
//! | 4 | CRC-32 of the trailer JSON |
//! | 4 | zero |
//! | 8 | end magic `AFLCEND\0` |
//!
//! The file name holds a hash of the header, so a changed source file (size or mtime), image
//! size, channel count, crop or format version gives another file; the header is compared in
//! full before use as well. A build writes to a temporary name and renames it at the end, so an
//! interrupted build never leaves a file with a cache's name. A cache that fails any check
//! (length, magic, header, trailer or block checksum) is reported and rebuilt, never read.
#![allow(unsafe_code)] // memory-mapping the cache file; see the SAFETY notes.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use memmap2::{Mmap, MmapOptions};
use serde::{Deserialize, Serialize};

use crate::catalog::fnv1a;
use crate::decode::{CROP, decode_records};
use crate::error::DataError;
use crate::store::Backing;

/// Bumped whenever the file layout or the pixels it holds change.
pub(crate) const FORMAT_VERSION: u32 = 1;
const MAGIC: &[u8; 8] = b"AFLCACHE";
const END_MAGIC: &[u8; 8] = b"AFLCEND\0";
const PREFIX: usize = 24;
const FOOTER: usize = 24;
const ALIGN: usize = 4096;
const BLOCK: usize = 16 << 20;
/// Temporary files of an interrupted build older than this are removed by the next build.
const STALE: Duration = Duration::from_secs(24 * 3600);

/// Where the cache of a run lives, and whether this run built it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheInfo {
    pub path: PathBuf,
    /// `true` when this run decoded the images (first use, changed sources or settings, or a
    /// corrupt cache); `false` when an existing cache was mapped.
    pub built: bool,
    pub images: usize,
    pub bytes: u64,
}

/// The default cache folder: `$XDG_CACHE_HOME/arcface-lab/data` if `XDG_CACHE_HOME` is set
/// (and absolute), else `$HOME/.cache/arcface-lab/data`; `None` without either.
pub fn default_cache_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = xdg.or_else(|| {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .map(|home| home.join(".cache"))
    })?;
    Some(base.join("arcface-lab").join("data"))
}

/// One source file as the key sees it: relative path, and size and mtime (ns) if it exists.
pub(crate) type SourceFile = (String, Option<[u64; 2]>);

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Header {
    format: String,
    version: u32,
    kind: String,
    crop: String,
    image_size: usize,
    channels: usize,
    record_bytes: usize,
    count: usize,
    base: String,
    files: Vec<SourceFile>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Trailer {
    block_size: usize,
    block_crcs: Vec<u32>,
    bad: Vec<(usize, String)>,
}

/// What to cache: the images `paths` (absolute; `files` are the same, relative to `base`).
pub(crate) struct CacheRequest<'a> {
    pub dir: &'a Path,
    pub kind: &'a str,
    pub base: &'a Path,
    pub files: Vec<SourceFile>,
    pub paths: &'a [PathBuf],
    pub shape: [usize; 3],
}

/// A mapped cache: the records, and per record why it could not be decoded.
pub(crate) struct Cached {
    pub backing: Backing,
    pub failures: Vec<Option<String>>,
    pub info: CacheInfo,
}

/// The size and mtime (ns since the epoch) of a file, or `None` if it cannot be read.
pub(crate) fn stat(path: &Path) -> Option<[u64; 2]> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    Some([meta.len(), mtime])
}

/// Maps the cache for `request`, building it first if it is absent, stale or corrupt (the
/// latter with a warning).
pub(crate) fn open_or_build(
    request: CacheRequest<'_>,
    warnings: &mut Vec<String>,
) -> Result<Cached, DataError> {
    let [channels, side, _] = request.shape;
    let record_bytes = request.shape.iter().product::<usize>();
    let header = Header {
        format: "arcface-lab image cache".to_owned(),
        version: FORMAT_VERSION,
        kind: request.kind.to_owned(),
        crop: CROP.to_owned(),
        image_size: side,
        channels,
        record_bytes,
        count: request.paths.len(),
        base: request.base.display().to_string(),
        files: request.files,
    };
    let header_bytes = serde_json::to_vec(&header).map_err(|e| DataError::Cache {
        path: request.dir.to_owned(),
        problem: format!("cannot describe the sources: {e}"),
    })?;
    let name = format!(
        "{}-{side}px-{channels}ch-{:016x}.afc",
        request.kind,
        fnv1a(&header_bytes)
    );
    let path = request.dir.join(&name);
    let layout = Layout::new(header_bytes.len(), record_bytes, header.count);

    if path.exists() {
        match open(&path, &header_bytes, &layout) {
            Ok((map, trailer)) => {
                let bytes = map.len() as u64;
                return Ok(Cached {
                    backing: Backing::Mapped {
                        map,
                        offset: layout.data_offset,
                    },
                    failures: failures_of(trailer.bad, header.count),
                    info: CacheInfo {
                        path,
                        built: false,
                        images: header.count,
                        bytes,
                    },
                });
            }
            Err(problem) => warnings.push(format!(
                "cache {} is unusable ({problem}); rebuilt it",
                path.display()
            )),
        }
    }

    std::fs::create_dir_all(request.dir)
        .map_err(|e| DataError::io("create the cache folder", request.dir, e))?;
    remove_stale_temporaries(request.dir, &name, warnings);
    let failures = build(
        &path,
        &name,
        &header_bytes,
        &layout,
        request.paths,
        request.shape,
    )?;
    let file = File::open(&path).map_err(|e| DataError::io("open the new cache", &path, e))?;
    // SAFETY: the file was just written by this process and renamed into place; cache files
    // are never modified after the rename (a rebuild writes a new file and renames over it, which
    // leaves this mapping on the old inode), so the mapped bytes do not change under us.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| DataError::io("map", &path, e))?;
    let bytes = map.len() as u64;
    Ok(Cached {
        backing: Backing::Mapped {
            map,
            offset: layout.data_offset,
        },
        failures,
        info: CacheInfo {
            path,
            built: true,
            images: header.count,
            bytes,
        },
    })
}

fn failures_of(bad: Vec<(usize, String)>, count: usize) -> Vec<Option<String>> {
    let mut failures = vec![None; count];
    for (index, reason) in bad {
        if let Some(slot) = failures.get_mut(index) {
            *slot = Some(reason);
        }
    }
    failures
}

/// Byte offsets of a cache file's parts.
struct Layout {
    header_len: usize,
    data_offset: usize,
    data_len: usize,
}

impl Layout {
    fn new(header_len: usize, record_bytes: usize, count: usize) -> Self {
        Self {
            header_len,
            data_offset: (PREFIX + header_len).div_ceil(ALIGN) * ALIGN,
            data_len: record_bytes * count,
        }
    }

    fn data_end(&self) -> usize {
        self.data_offset + self.data_len
    }
}

/// Checks a cache file completely and maps it; the error says what is wrong with it.
fn open(path: &Path, header_bytes: &[u8], layout: &Layout) -> Result<(Mmap, Trailer), String> {
    let file = File::open(path).map_err(|e| format!("cannot open it: {e}"))?;
    let len = file
        .metadata()
        .map_err(|e| format!("cannot stat it: {e}"))?
        .len();
    let len = usize::try_from(len).map_err(|_| "too large for this machine".to_owned())?;
    if len < layout.data_end() + FOOTER {
        return Err(format!(
            "{len} bytes, fewer than the {} its header needs: truncated",
            layout.data_end() + FOOTER
        ));
    }
    let mut prefix = vec![0u8; PREFIX + layout.header_len];
    (&file)
        .read_exact(&mut prefix)
        .map_err(|e| format!("cannot read its header: {e}"))?;
    if &prefix[..8] != MAGIC {
        return Err("it does not start with the cache magic".to_owned());
    }
    let version = u32::from_le_bytes(take4(&prefix, 8));
    if version != FORMAT_VERSION {
        return Err(format!(
            "format version {version}, expected {FORMAT_VERSION}"
        ));
    }
    let stored_len = u64::from_le_bytes(take8(&prefix, 16));
    let header = &prefix[PREFIX..];
    if stored_len != layout.header_len as u64
        || crc32fast::hash(header) != u32::from_le_bytes(take4(&prefix, 12))
    {
        return Err("its header is damaged".to_owned());
    }
    if header != header_bytes {
        return Err("its header describes other sources or settings".to_owned());
    }

    // SAFETY: cache files are never modified once renamed into place (see `open_or_build`);
    // the lengths were checked above, and every byte is checksummed below before it is used.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| format!("cannot map it: {e}"))?;
    if map.len() != len {
        return Err("it changed size while being opened".to_owned());
    }
    let footer = &map[len - FOOTER..];
    if &footer[16..] != END_MAGIC {
        return Err("it lacks the end marker: truncated or unfinished".to_owned());
    }
    let trailer_len = usize::try_from(u64::from_le_bytes(take8(footer, 0)))
        .map_err(|_| "its trailer length is damaged".to_owned())?;
    if layout
        .data_end()
        .checked_add(trailer_len)
        .map(|v| v + FOOTER)
        != Some(len)
    {
        return Err(format!(
            "{len} bytes, but its parts add up to {} (truncated or padded)",
            layout.data_end() + trailer_len + FOOTER
        ));
    }
    let trailer_bytes = &map[layout.data_end()..layout.data_end() + trailer_len];
    if crc32fast::hash(trailer_bytes) != u32::from_le_bytes(take4(footer, 8)) {
        return Err("its trailer is damaged".to_owned());
    }
    let trailer: Trailer = serde_json::from_slice(trailer_bytes)
        .map_err(|e| format!("its trailer cannot be read: {e}"))?;
    if trailer.block_size != BLOCK {
        return Err(format!(
            "block size {}, expected {BLOCK}",
            trailer.block_size
        ));
    }
    let data = &map[layout.data_offset..layout.data_end()];
    let crcs = block_crcs(data);
    if crcs != trailer.block_crcs {
        let bad = crcs
            .iter()
            .zip(&trailer.block_crcs)
            .position(|(a, b)| a != b)
            .unwrap_or(crcs.len().min(trailer.block_crcs.len()));
        return Err(format!(
            "checksum mismatch in the records (block {bad} of {}): corrupt",
            crcs.len()
        ));
    }
    Ok((map, trailer))
}

fn take4(bytes: &[u8], at: usize) -> [u8; 4] {
    let mut out = [0; 4];
    out.copy_from_slice(&bytes[at..at + 4]);
    out
}

fn take8(bytes: &[u8], at: usize) -> [u8; 8] {
    let mut out = [0; 8];
    out.copy_from_slice(&bytes[at..at + 8]);
    out
}

/// CRC-32 of every [`BLOCK`] of `data`, computed on all cores.
fn block_crcs(data: &[u8]) -> Vec<u32> {
    let blocks: Vec<&[u8]> = data.chunks(BLOCK).collect();
    let mut crcs = vec![0u32; blocks.len()];
    if blocks.is_empty() {
        return crcs;
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(blocks.len());
    let next = AtomicUsize::new(0);
    let found: Vec<Vec<(usize, u32)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(block) = blocks.get(i) else { break };
                        out.push((i, crc32fast::hash(block)));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    for (i, crc) in found.into_iter().flatten() {
        crcs[i] = crc;
    }
    crcs
}

/// Writes the cache under a temporary name, then renames it to `path`. Returns the per-record
/// failures.
fn build(
    path: &Path,
    name: &str,
    header_bytes: &[u8],
    layout: &Layout,
    paths: &[PathBuf],
    shape: [usize; 3],
) -> Result<Vec<Option<String>>, DataError> {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let tmp = path.with_file_name(format!("{name}.tmp-{}-{nanos}", std::process::id()));
    let result =
        write_cache(&tmp, header_bytes, layout, paths, shape).and_then(|(failures, file)| {
            // Renamed while still locked: unlocked, a finished temporary would look abandoned.
            std::fs::rename(&tmp, path).map_err(|e| DataError::io("rename into place", &tmp, e))?;
            drop(file);
            if let Some(dir) = path.parent() {
                // Best effort: makes the rename durable on filesystems that need it.
                let _ = File::open(dir).and_then(|d| d.sync_all());
            }
            Ok(failures)
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_cache(
    tmp: &Path,
    header_bytes: &[u8],
    layout: &Layout,
    paths: &[PathBuf],
    shape: [usize; 3],
) -> Result<(Vec<Option<String>>, File), DataError> {
    let io = |action| move |e| DataError::io(action, tmp, e);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(io("create"))?;
    // Held until the file is complete and renamed (the lock goes with the handle): it tells
    // other processes' `remove_stale_temporaries` that this build is alive. Blocking, so that
    // a cleaner that locked the new file first finishes, and then we see whether it removed it.
    // On a file system without locks (some network file systems) the age rule alone protects
    // this file, as it did before locks were taken.
    if file.lock().is_ok() && !tmp.exists() {
        return Err(DataError::Cache {
            path: tmp.to_owned(),
            problem: "another process removed this build's temporary file while it was being \
                      created; run again"
                .to_owned(),
        });
    }
    file.set_len(layout.data_end() as u64).map_err(io("size"))?;
    let mut prefix = Vec::with_capacity(PREFIX + header_bytes.len());
    prefix.extend_from_slice(MAGIC);
    prefix.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    prefix.extend_from_slice(&crc32fast::hash(header_bytes).to_le_bytes());
    prefix.extend_from_slice(&(header_bytes.len() as u64).to_le_bytes());
    prefix.extend_from_slice(header_bytes);
    file.write_all(&prefix).map_err(io("write"))?;

    let (failures, crcs) = if layout.data_len == 0 {
        (Vec::new(), Vec::new())
    } else {
        // SAFETY: `tmp` was created by this call (`create_new`) under a name no other process
        // uses, and is only written through this mapping until it is dropped below.
        let mut map = unsafe {
            MmapOptions::new()
                .offset(layout.data_offset as u64)
                .len(layout.data_len)
                .map_mut(&file)
        }
        .map_err(io("map"))?;
        let failures = decode_records(paths, shape, &mut map, Some("cache"));
        map.flush().map_err(io("write"))?;
        let crcs = block_crcs(&map);
        (failures, crcs)
    };
    let bad: Vec<(usize, String)> = failures
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.clone().map(|reason| (i, reason)))
        .collect();
    let trailer = serde_json::to_vec(&Trailer {
        block_size: BLOCK,
        block_crcs: crcs,
        bad,
    })
    .map_err(|e| DataError::Cache {
        path: tmp.to_owned(),
        problem: format!("cannot write the trailer: {e}"),
    })?;
    let mut end = trailer.clone();
    end.extend_from_slice(&(trailer.len() as u64).to_le_bytes());
    end.extend_from_slice(&crc32fast::hash(&trailer).to_le_bytes());
    end.extend_from_slice(&0u32.to_le_bytes());
    end.extend_from_slice(END_MAGIC);
    file.seek(SeekFrom::Start(layout.data_end() as u64))
        .map_err(io("write"))?;
    file.write_all(&end).map_err(io("write"))?;
    file.sync_all().map_err(io("sync"))?;
    Ok((failures, file))
}

/// What a temporary cache file's name holds between the cache's name and the writer's pid.
const TMP_MARK: &str = ".afc.tmp-";

/// Removes temporary files that interrupted builds (Ctrl-C, a crash, a full disk) left in the
/// cache folder, each up to the size of a whole cache, with a warning naming it:
///
/// - a temporary of this cache (`name`) whose writer is gone: a live build holds an exclusive
///   lock on its file (see [`build`]), so one we can lock is abandoned;
/// - a temporary of any cache older than [`STALE`], unless a build still holds it locked.
///
/// Where the file system cannot lock, only the age rule applies. Finished caches never match:
/// only names carrying [`TMP_MARK`] are considered. Best effort: a file that cannot be
/// inspected or removed is left alone.
fn remove_stale_temporaries(dir: &Path, name: &str, warnings: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let same_key = format!("{name}.tmp-");
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        if !file_name.contains(TMP_MARK) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let old = meta
            .modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE);
        let ours = file_name.starts_with(&same_key);
        if !ours && !old {
            continue;
        }
        let path = entry.path();
        let Ok(file) = OpenOptions::new().read(true).write(true).open(&path) else {
            continue;
        };
        let abandoned = match file.try_lock() {
            Ok(()) => true,
            Err(std::fs::TryLockError::WouldBlock) => false,
            // No locks here (some network file systems): only the age tells.
            Err(std::fs::TryLockError::Error(_)) => old,
        };
        // Removed while our lock is held, so a writer cannot take it over in between.
        if abandoned && std::fs::remove_file(&path).is_ok() {
            warnings.push(format!(
                "removed a stale temporary cache file {} ({} bytes), left by an interrupted build",
                path.display(),
                meta.len()
            ));
        }
        drop(file);
    }
}
