//! Pickle imports, found by walking the opcodes without executing anything, and judged by
//! picklescan's allow and block lists.
//!
//! `GLOBAL` and `INST` carry `module\nname\n` inline; `STACK_GLOBAL` takes the two strings
//! pushed before it, which may come through the memo (`PUT`/`MEMOIZE` and `GET`). Anything
//! this reader cannot resolve becomes `unknown.unknown`, which is treated as suspicious.

/// An imported callable: `module.name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Import {
    pub module: String,
    pub name: String,
}

impl std::fmt::Display for Import {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.module, self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Safe,
    Unknown,
    Dangerous,
}

/// picklescan's allow list: what PyTorch and numpy checkpoints legitimately import.
const ALLOWED: &[(&str, &str)] = &[
    ("collections", "OrderedDict"),
    ("torch", "LongStorage"),
    ("torch", "FloatStorage"),
    ("torch", "HalfStorage"),
    ("torch", "DoubleStorage"),
    ("torch", "BFloat16Storage"),
    ("torch", "BoolStorage"),
    ("torch", "CharStorage"),
    ("torch", "ShortStorage"),
    ("torch", "IntStorage"),
    ("torch", "ByteStorage"),
    ("torch", "ComplexFloatStorage"),
    ("torch", "ComplexDoubleStorage"),
    ("torch", "QInt8Storage"),
    ("torch", "QUInt8Storage"),
    ("torch", "QInt32Storage"),
    ("torch", "QUInt2x4Storage"),
    ("torch", "QUInt4x2Storage"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch", "Size"),
    ("torch", "float32"),
    ("torch", "float16"),
    ("torch", "bfloat16"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
];

/// Whole modules picklescan blocks.
const BLOCKED_MODULES: &[&str] = &[
    "os",
    "posix",
    "nt",
    "subprocess",
    "sys",
    "socket",
    "ssl",
    "shutil",
    "runpy",
    "pickle",
    "_pickle",
    "pip",
    "pdb",
    "bdb",
    "pty",
    "ctypes",
    "asyncio",
    "aiohttp",
    "httplib",
    "requests.api",
    "urllib.request",
    "webbrowser",
    "uuid",
    "venv",
    "timeit",
    "cProfile",
    "profile",
    "pydoc",
    "test",
    "commands",
    "numpy.f2py",
    "numpy.testing._private.utils",
    "distutils.file_util",
    "_osx_support",
    "_aix_support",
    "_pyrepl",
];

/// Single names picklescan blocks in otherwise ordinary modules.
const BLOCKED_NAMES: &[(&str, &str)] = &[
    ("builtins", "eval"),
    ("builtins", "exec"),
    ("builtins", "compile"),
    ("builtins", "getattr"),
    ("builtins", "apply"),
    ("builtins", "open"),
    ("builtins", "breakpoint"),
    ("builtins", "__import__"),
    ("__builtin__", "eval"),
    ("__builtin__", "exec"),
    ("__builtin__", "compile"),
    ("__builtin__", "getattr"),
    ("__builtin__", "apply"),
    ("__builtin__", "open"),
    ("__builtin__", "breakpoint"),
    ("types", "CodeType"),
    ("types", "FunctionType"),
    ("functools", "partial"),
    ("operator", "attrgetter"),
    ("operator", "itemgetter"),
    ("operator", "methodcaller"),
    ("_operator", "attrgetter"),
    ("_operator", "itemgetter"),
    ("_operator", "methodcaller"),
    ("logging", "FileHandler"),
    ("_io", "FileIO"),
    ("pkgutil", "resolve_name"),
    ("torch.serialization", "load"),
    ("torch._inductor.codecache", "compile_file"),
    ("torch.jit.unsupported_tensor_ops", "execWrapper"),
];

pub fn verdict(i: &Import) -> Verdict {
    let blocked_module = BLOCKED_MODULES
        .iter()
        .any(|m| i.module == *m || i.module.starts_with(&format!("{m}.")));
    if blocked_module
        || BLOCKED_NAMES.contains(&(i.module.as_str(), i.name.as_str()))
        || i.module == "unknown"
    {
        return Verdict::Dangerous;
    }
    if ALLOWED.contains(&(i.module.as_str(), i.name.as_str())) {
        Verdict::Safe
    } else {
        Verdict::Unknown
    }
}

/// Whether `data` starts like a pickle (protocol 2 and later start with PROTO).
pub fn looks_like_pickle(data: &[u8]) -> bool {
    matches!(data, [0x80, 2..=5, ..])
}

/// The imports of every pickle in `data` (legacy PyTorch files hold several in a row), up to
/// `max_pickles`. A malformed stream ends the walk: the error says where, and the imports
/// found before it are kept.
pub fn imports(data: &[u8], max_pickles: usize) -> (Vec<Import>, Option<String>) {
    let mut found = Vec::new();
    let mut at = 0;
    for _ in 0..max_pickles {
        if at >= data.len() || !looks_like_pickle(&data[at..]) {
            break;
        }
        match walk(data, at, &mut found) {
            Ok(end) => at = end,
            Err(e) => return (dedup(found), Some(e)),
        }
    }
    (dedup(found), None)
}

fn dedup(mut v: Vec<Import>) -> Vec<Import> {
    v.sort();
    v.dedup();
    v
}

/// Walks one pickle from `start`; returns the offset after its STOP.
fn walk(data: &[u8], start: usize, found: &mut Vec<Import>) -> Result<usize, String> {
    // Only strings matter: other stack values are None.
    let mut stack: Vec<Option<String>> = Vec::new();
    let mut memo: std::collections::HashMap<u64, Option<String>> = std::collections::HashMap::new();
    let mut at = start;
    let err = |at: usize, what: &str| format!("malformed pickle at byte {at}: {what}");
    let take = |at: &mut usize, n: usize| -> Result<&[u8], String> {
        let s = data
            .get(*at..*at + n)
            .ok_or_else(|| err(*at, "truncated"))?;
        *at += n;
        Ok(s)
    };
    // The argument of a text opcode: the bytes up to the next newline, which is consumed.
    let line = |at: &mut usize| -> Result<&[u8], String> {
        let end = data[*at..]
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| err(*at, "unterminated line"))?;
        let s = &data[*at..*at + end];
        *at += end + 1;
        Ok(s)
    };
    let decimal = |s: &[u8]| -> u64 {
        std::str::from_utf8(s)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(u64::MAX)
    };
    let uint = |b: &[u8]| {
        b.iter()
            .rev()
            .fold(0u64, |acc, x| (acc << 8) | u64::from(*x))
    };
    loop {
        let op = *data.get(at).ok_or_else(|| err(at, "no STOP"))?;
        at += 1;
        match op {
            b'.' => return Ok(at), // STOP
            b'c' | b'i' => {
                // GLOBAL / INST: "module\nname\n"
                let module = String::from_utf8_lossy(line(&mut at)?).into_owned();
                let name = String::from_utf8_lossy(line(&mut at)?).into_owned();
                found.push(Import { module, name });
                stack.push(None);
            }
            0x93 => {
                // STACK_GLOBAL
                let name = stack.pop().flatten();
                let module = stack.pop().flatten();
                let unknown = || "unknown".to_owned();
                found.push(Import {
                    module: module.unwrap_or_else(unknown),
                    name: name.unwrap_or_else(unknown),
                });
                stack.push(None);
            }
            // Strings.
            0x8c => {
                let n = take(&mut at, 1)?[0] as usize;
                let s = take(&mut at, n)?;
                stack.push(Some(String::from_utf8_lossy(s).into_owned()));
            }
            b'X' => {
                let n = uint(take(&mut at, 4)?) as usize;
                let s = take(&mut at, n)?;
                stack.push(Some(String::from_utf8_lossy(s).into_owned()));
            }
            0x8d => {
                let n = uint(take(&mut at, 8)?) as usize;
                let s = take(&mut at, n)?;
                stack.push(Some(String::from_utf8_lossy(s).into_owned()));
            }
            b'U' | b'C' => {
                let n = take(&mut at, 1)?[0] as usize;
                let s = take(&mut at, n)?;
                stack.push(Some(String::from_utf8_lossy(s).into_owned()));
            }
            b'T' | b'B' => {
                let n = uint(take(&mut at, 4)?) as usize;
                let s = take(&mut at, n)?;
                stack.push(Some(String::from_utf8_lossy(s).into_owned()));
            }
            0x8e => {
                let n = uint(take(&mut at, 8)?) as usize;
                take(&mut at, n)?;
                stack.push(None);
            }
            b'V' | b'S' => {
                let raw = String::from_utf8_lossy(line(&mut at)?).into_owned();
                stack.push(Some(raw.trim_matches(['\'', '"']).to_owned()));
            }
            // Memo.
            b'q' => {
                let k = uint(take(&mut at, 1)?);
                memo.insert(k, stack.last().cloned().flatten());
            }
            b'r' => {
                let k = uint(take(&mut at, 4)?);
                memo.insert(k, stack.last().cloned().flatten());
            }
            0x94 => {
                let k = memo.len() as u64;
                memo.insert(k, stack.last().cloned().flatten());
            }
            b'p' => {
                let k = decimal(line(&mut at)?);
                memo.insert(k, stack.last().cloned().flatten());
            }
            b'h' => {
                let k = uint(take(&mut at, 1)?);
                stack.push(memo.get(&k).cloned().flatten());
            }
            b'j' => {
                let k = uint(take(&mut at, 4)?);
                stack.push(memo.get(&k).cloned().flatten());
            }
            b'g' => {
                let k = decimal(line(&mut at)?);
                stack.push(memo.get(&k).cloned().flatten());
            }
            // Opcodes with fixed-size arguments.
            0x80 => {
                take(&mut at, 1)?;
            }
            0x95 => {
                take(&mut at, 8)?;
            }
            b'K' => {
                take(&mut at, 1)?;
                stack.push(None);
            }
            b'M' => {
                take(&mut at, 2)?;
                stack.push(None);
            }
            b'J' => {
                take(&mut at, 4)?;
                stack.push(None);
            }
            b'G' => {
                take(&mut at, 8)?;
                stack.push(None);
            }
            0x8a => {
                let n = take(&mut at, 1)?[0] as usize;
                take(&mut at, n)?;
                stack.push(None);
            }
            0x8b => {
                let n = uint(take(&mut at, 4)?) as usize;
                take(&mut at, n)?;
                stack.push(None);
            }
            0x96 => {
                let n = uint(take(&mut at, 8)?) as usize;
                take(&mut at, n)?;
                stack.push(None);
            }
            0x82 => {
                take(&mut at, 1)?;
                stack.push(None);
            }
            0x83 => {
                take(&mut at, 2)?;
                stack.push(None);
            }
            0x84 => {
                take(&mut at, 4)?;
                stack.push(None);
            }
            // Newline-terminated arguments.
            b'I' | b'L' | b'F' | b'P' => {
                line(&mut at)?;
                stack.push(None);
            }
            // No argument: push something, or change the stack in ways that keep strings
            // irrelevant (the walk only needs the two values before STACK_GLOBAL).
            b'N' | 0x88 | 0x89 | b')' | b']' | b'}' | 0x8f | b'(' | 0x98 | 0x97 => stack.push(None),
            b'0' => {
                stack.pop();
            }
            b'2' => {
                let top = stack.last().cloned().flatten();
                stack.push(top);
            }
            b'1' | b't' | b'l' | b'd' | b'u' | b'e' | b'a' | b's' | b'b' | b'R' | b'o' | 0x81
            | 0x92 | 0x85 | 0x86 | 0x87 | 0x90 | 0x91 | b'Q' => {
                // Reduce the stack to a single opaque value: enough for import discovery.
                stack.pop();
                stack.push(None);
            }
            other => return Err(err(at - 1, &format!("unknown opcode 0x{other:02x}"))),
        }
        if stack.len() > 1_000_000 {
            return Err(err(at, "stack too deep"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let i = |m: &str, n: &str| Import {
            module: m.into(),
            name: n.into(),
        };
        assert_eq!(
            verdict(&i("torch._utils", "_rebuild_tensor_v2")),
            Verdict::Safe
        );
        assert_eq!(verdict(&i("posix", "system")), Verdict::Dangerous);
        assert_eq!(verdict(&i("os.path", "join")), Verdict::Dangerous);
        assert_eq!(verdict(&i("builtins", "eval")), Verdict::Dangerous);
        assert_eq!(verdict(&i("collections", "Counter")), Verdict::Unknown);
        assert_eq!(verdict(&i("unknown", "unknown")), Verdict::Dangerous);
    }

    #[test]
    fn text_opcodes() {
        let import = |m: &str, n: &str| Import {
            module: m.into(),
            name: n.into(),
        };
        // pickle.dumps([os.system, os.system, "txt", 7, 1.5], protocol=0)
        let p0 = b"(lp0\ncposix\nsystem\np1\nag1\naVtxt\np2\naI7\naF1.5\na.";
        let mut found = Vec::new();
        assert_eq!(walk(p0, 0, &mut found), Ok(p0.len()));
        assert_eq!(found, vec![import("posix", "system")]);
        // STACK_GLOBAL fed by memo entries that PUT and GET name in decimal text.
        let memo = b"\x80\x02Vos\np0\nVsystem\np1\ng0\ng1\n\x93.";
        let (found, err) = imports(memo, 4);
        assert_eq!((found, err), (vec![import("os", "system")], None));
        let cut = b"cposix\nsyst";
        assert_eq!(
            walk(cut, 0, &mut Vec::new()),
            Err("malformed pickle at byte 7: unterminated line".to_owned())
        );
    }
}
