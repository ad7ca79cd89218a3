//! Everything in a pushed LFS file that a loader would unpickle, found by content: raw pickles
//! of any protocol (whatever the extension: dill and joblib files are pickles too), zip
//! checkpoints and `.npz` archives (every pickle member, nested zips, `.npy` members), `.npy`
//! files of object dtype, and zlib- or gzip-compressed joblib files. Each pickle's imports
//! are judged by the block and allow lists; a pickle-bearing file that cannot be read to the
//! end is an error, since what cannot be analysed cannot be let through.

use std::cell::Cell;
use std::io::Read;

use super::pickle::{self, Import, Report, Verdict};
use super::zip::{self, ReadAt};
use super::{FileScan, PickleImportScan, ScannedImport};
use crate::{finding, ChangedFile, Finding};

/// Extensions whose files are pickles (or archives of them) by their libraries' conventions:
/// such a file must be analysable to its end. Any other file (`.bin`, which is as often raw
/// tensors, GGML or ONNX data as a PyTorch pickle) is looked into by content: it counts as a
/// pickle if it reads as one.
pub const PICKLE_EXTS: &[&str] = &[
    "pt", "pth", "ckpt", "pkl", "pickle", "joblib", "dill", "npy", "npz", "pck",
];
/// Nested zips followed at most this deep.
const MAX_ZIP_DEPTH: usize = 3;
/// Bytes inflated for one file, over all its members (compressed members are read whole).
const MAX_INFLATED: u64 = 256 << 20;
/// A decompressed joblib file read whole, at most.
const MAX_JOBLIB: u64 = 256 << 20;

/// One pickle stream found in a file: where it is (`file:member` inside archives) and its scan.
struct Found {
    at: String,
    report: Report,
}

/// Whether a plain (non-LFS) file may hold pickles: a pickle extension, or the first bytes
/// of a pickle with PROTO, a zip or a `.npy`. Text files are not sniffed: a line starting with
/// `c` would read as a pickle import.
pub fn worth_a_look(content: &[u8], ext: &str) -> bool {
    PICKLE_EXTS.contains(&ext)
        || ext == "bin"
        || matches!(content, [0x80, 0..=5, ..])
        || zip::is_zip(content)
        || content.starts_with(b"\x93NUMPY")
}

/// At most this many distinct imports are recorded for one file's scan (all are judged).
const MAX_RECORDED_IMPORTS: usize = 500;

/// What to do with one file: `ext` is its lowercase extension; `push_left` what the push may
/// still inflate, if it has a budget. Returns what was found, unless the file could not be read.
pub fn check(
    f: &ChangedFile,
    read: ReadAt<'_>,
    size: u64,
    ext: &str,
    push_left: Option<&Cell<u64>>,
    out: &mut Vec<Finding>,
) -> Option<FileScan> {
    let head = read(0, size.min(16))?;
    let by_name = PICKLE_EXTS.contains(&ext);
    let mut found = Vec::new();
    let start = push_left.map_or(MAX_INFLATED, |p| p.get().min(MAX_INFLATED));
    let mut budget = start;
    let res = inspect(
        &f.path,
        read,
        size,
        &head,
        by_name,
        0,
        &mut budget,
        &mut found,
    );
    if let Some(p) = push_left {
        p.set(p.get() - (start - budget));
    }
    if let Err(why) = &res {
        out.push(finding(
            "pickle-unreadable",
            &f.path,
            format!("{}: {why}, so it cannot be checked for code", f.path),
            "publish the weights as safetensors, which hold no code",
        ));
    }
    let scan = file_scan(&f.path, &found, res.is_err());
    for Found { at, report } in found {
        report_findings(&f.path, &at, &report, out);
    }
    Some(scan)
}

/// The Hub's view of a file's pickles: every distinct import with its safety, and the file's
/// status from the worst of them.
fn file_scan(path: &str, found: &[Found], unreadable: bool) -> FileScan {
    let mut seen = std::collections::BTreeMap::new();
    let mut unreadable = unreadable;
    for Found { report, .. } in found {
        unreadable |= report.error.is_some();
        for i in &report.imports {
            seen.entry(i.clone()).or_insert_with(|| pickle::verdict(i));
        }
    }
    let worst = seen.values().copied().max_by_key(|v| level_rank(*v));
    let status = match worst {
        Some(Verdict::Dangerous) => "unsafe",
        _ if unreadable => "error",
        Some(Verdict::Unknown) => "suspicious",
        _ => "safe",
    };
    if found.is_empty() && !unreadable {
        return FileScan::clean(path);
    }
    let level = |v: Verdict| match v {
        Verdict::Safe => "innocuous",
        Verdict::Unknown => "suspicious",
        Verdict::Dangerous => "dangerous",
    };
    // The worst first, so a capped list still shows what matters.
    let mut imports: Vec<(&Import, &Verdict)> = seen.iter().collect();
    imports.sort_by_key(|(_, v)| std::cmp::Reverse(level_rank(**v)));
    FileScan {
        path: path.to_owned(),
        status,
        pickle: Some(PickleImportScan {
            highest: worst.map_or("innocuous", level),
            imports: imports
                .into_iter()
                .take(MAX_RECORDED_IMPORTS)
                .map(|(i, v)| ScannedImport {
                    module: i.module.clone(),
                    name: i.name.clone(),
                    safety: level(*v),
                })
                .collect(),
        }),
    }
}

fn level_rank(v: Verdict) -> u8 {
    match v {
        Verdict::Safe => 0,
        Verdict::Unknown => 1,
        Verdict::Dangerous => 2,
    }
}

/// Looks at bytes that may hold pickles; `strict` if they must.
#[allow(clippy::too_many_arguments)]
fn inspect(
    at: &str,
    read: ReadAt<'_>,
    size: u64,
    head: &[u8],
    strict: bool,
    depth: usize,
    budget: &mut u64,
    found: &mut Vec<Found>,
) -> Result<(), String> {
    if zip::is_zip(head) {
        return archive(at, read, size, strict, depth, budget, found);
    }
    if head.starts_with(b"\x93NUMPY") {
        return npy(at, read, size, found);
    }
    let compressed = head.starts_with(&[0x1f, 0x8b])
        || (head.len() >= 2
            && head[0] == 0x78
            && matches!(head[1], 0x01 | 0x5e | 0x9c | 0xda)
            && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0);
    if compressed && strict {
        // joblib's zlib and gzip compression: the pickle is inside.
        let data = inflate(read, size, head[0] == 0x1f, *budget)?;
        *budget -= data.len() as u64;
        let report = pickle::scan_bytes(&data, true);
        found.push(Found {
            at: at.to_owned(),
            report,
        });
        return Ok(());
    }
    let proto = head.len() >= 2 && head[0] == 0x80 && head[1] <= 5;
    let report = pickle::scan(read, size, strict || proto);
    if report.is_pickle || report.error.is_some() {
        found.push(Found {
            at: at.to_owned(),
            report,
        });
    }
    Ok(())
}

/// A zip (PyTorch checkpoint, `.npz`, or a zip inside one): every member that is a pickle
/// (by name or by its first bytes), a `.npy` or another zip.
fn archive(
    at: &str,
    read: ReadAt<'_>,
    size: u64,
    strict: bool,
    depth: usize,
    budget: &mut u64,
    found: &mut Vec<Found>,
) -> Result<(), String> {
    if depth >= MAX_ZIP_DEPTH {
        return Err(format!("{at} nests zips more than {MAX_ZIP_DEPTH} deep"));
    }
    // A zip named like a checkpoint must be readable. Any other file that starts like a zip
    // but has no directory this reader can follow is not this rule's business; once its
    // directory reads, though, everything in it is checked and every failure counts (else a
    // budget-busting first member would hide a pickle after it).
    let entries = match zip::entries(read, size) {
        Ok(e) => e,
        Err(_) if !strict => return Ok(()),
        Err(e) => return Err(format!("{at} is not a readable zip: {e}")),
    };
    zip::refuse_overlaps(&entries).map_err(|e| format!("{at}: {e}"))?;
    for e in &entries {
        let head = zip::member_head(read, e, 16)?;
        let named = [".pkl", ".pickle"].iter().any(|x| e.name.ends_with(x));
        let pickle_head = head.len() >= 2 && head[0] == 0x80 && head[1] <= 5;
        let wanted = named || pickle_head || zip::is_zip(&head) || head.starts_with(b"\x93NUMPY");
        if !wanted {
            continue;
        }
        let inner = format!("{at}:{}", e.name);
        // Stored members are read in place (no copy, no cap); compressed ones whole, within
        // the file's inflation budget.
        let stored = |off: u64, len: u64| {
            let len = len.min(e.compressed.saturating_sub(off));
            read(e.data_at + off, len)
        };
        let data;
        let inflated;
        let (sub, len): (ReadAt<'_>, u64) = if e.method == 0 {
            (&stored, e.compressed)
        } else {
            if e.uncompressed > *budget {
                return Err(format!("{inner} {}", past_budget()));
            }
            data = zip::member_bytes(read, e, *budget)?;
            *budget -= data.len() as u64;
            inflated = slice_reader(&data);
            (&inflated, data.len() as u64)
        };
        inspect(&inner, sub, len, &head, named, depth + 1, budget, found)?;
    }
    Ok(())
}

/// A `.npy` array: its header says the dtype; an object array's data is a pickle.
fn npy(at: &str, read: ReadAt<'_>, size: u64, found: &mut Vec<Found>) -> Result<(), String> {
    let pre = read(0, size.min(12)).ok_or("cannot read the .npy header")?;
    if pre.len() < 10 {
        return Err(format!("{at}: a truncated .npy header"));
    }
    let (len, start) = match pre[6] {
        1 => (u64::from(u16::from_le_bytes([pre[8], pre[9]])), 10),
        2 | 3 if pre.len() >= 12 => (
            u64::from(u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]])),
            12,
        ),
        v => return Err(format!("{at}: .npy format version {v} is not known")),
    };
    if len > 1 << 20 || start + len > size {
        return Err(format!("{at}: the .npy header runs past the file"));
    }
    let header = read(start, len).ok_or("cannot read the .npy header")?;
    if !object_dtype(&String::from_utf8_lossy(&header)) {
        return Ok(());
    }
    let data_at = start + len;
    let sub = |off: u64, l: u64| read(data_at + off, l.min((size - data_at).saturating_sub(off)));
    let report = pickle::scan(&sub, size - data_at, true);
    found.push(Found {
        at: format!("{at} (object array)"),
        report,
    });
    Ok(())
}

/// Whether a `.npy` header's dtype holds Python objects (`'|O'`, or an `O` field of a
/// structured dtype): the quoted type codes of the form `[<>|=]?O\d*`.
fn object_dtype(header: &str) -> bool {
    header.split(['\'', '"']).skip(1).step_by(2).any(|code| {
        let c = code.trim_start_matches(['<', '>', '|', '=']);
        c.starts_with('O') && c[1..].bytes().all(|b| b.is_ascii_digit())
    })
}

/// A ranged reader over bytes in memory.
pub(super) fn slice_reader(data: &[u8]) -> impl Fn(u64, u64) -> Option<Vec<u8>> + '_ {
    move |off, len| {
        let s = usize::try_from(off).ok()?.min(data.len());
        let e = s.saturating_add(usize::try_from(len).ok()?).min(data.len());
        Some(data[s..e].to_vec())
    }
}

/// Why a file was not inflated further: one of the two budgets ran out.
fn past_budget() -> String {
    format!(
        "inflates past what checking may cost ({} MiB per file, {} MiB per push; push large \
         files in pushes of their own)",
        MAX_INFLATED >> 20,
        crate::MAX_PUSH_INFLATED >> 20
    )
}

fn inflate(read: ReadAt<'_>, size: u64, gzip: bool, budget: u64) -> Result<Vec<u8>, String> {
    if size > MAX_JOBLIB {
        return Err(format!(
            "a compressed pickle of {size} bytes is over the {MAX_JOBLIB}-byte limit"
        ));
    }
    let cap = MAX_JOBLIB.min(budget);
    let raw = read(0, size).ok_or("cannot read the file")?;
    let mut out = Vec::new();
    let r: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(&raw[..]))
    } else {
        Box::new(flate2::read::ZlibDecoder::new(&raw[..]))
    };
    r.take(cap + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("the compressed pickle does not decompress: {e}"))?;
    if out.len() as u64 > cap {
        return Err(format!("the compressed pickle {}", past_budget()));
    }
    Ok(out)
}

fn report_findings(path: &str, at: &str, report: &Report, out: &mut Vec<Finding>) {
    let with = |v: Verdict| -> Vec<String> {
        report
            .imports
            .iter()
            .filter(|i| pickle::verdict(i) == v)
            .map(|i| i.to_string())
            .collect()
    };
    let (blocked, unknown) = (with(Verdict::Dangerous), with(Verdict::Unknown));
    if !blocked.is_empty() {
        out.push(finding(
            "pickle-blocked",
            path,
            format!(
                "{at} imports {} when unpickled: loading it would run code",
                blocked.join(", ")
            ),
            "do not load this file; publish the weights as safetensors",
        ));
    }
    if !unknown.is_empty() {
        out.push(finding(
            "pickle-unknown",
            path,
            format!(
                "{at} imports {}, which is not on the list of known-safe imports",
                unknown.join(", ")
            ),
            "check that these imports are expected, or publish safetensors",
        ));
    }
    if let Some(e) = &report.error {
        out.push(finding(
            "pickle-unreadable",
            path,
            format!("{at} cannot be analysed to its end: {e}"),
            "publish the weights as safetensors, which hold no code",
        ));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn object_dtypes() {
        for yes in [
            "{'descr': '|O', 'fortran_order': False, 'shape': (3,), }",
            "{'descr': [('a', '<f8'), ('b', '|O')], 'fortran_order': False, 'shape': (2,), }",
            "{'descr': 'O8', 'fortran_order': False, 'shape': (), }",
        ] {
            assert!(super::object_dtype(yes), "{yes}");
        }
        for no in [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }",
            "{'descr': [('Object', '<i8')], 'fortran_order': False, 'shape': (2,), }",
        ] {
            assert!(!super::object_dtype(no), "{no}");
        }
    }
}
