//! How an import found in a pickle is judged: picklescan's allow and block lists, with the
//! Python 2 names that CPython's unpickler maps to Python 3 ones (`fix_imports`) judged under
//! both names, and attribute paths (`os.path.join` written as module `os`, name `path.join`)
//! never taken for a plain name.

/// An imported callable: `module.name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
    // How protocols 0-2 write `bytes`: `_codecs.encode(text, "latin1")`.
    ("_codecs", "encode"),
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
    // Beyond picklescan's list: modules whose plain callables run code, spawn, or load it.
    "importlib",
    "_thread",
    "multiprocessing",
    "code",
    "codeop",
    "zipimport",
    "marshal",
    "_posixsubprocess",
    "logging.config",
    "ftplib",
    "smtplib",
    "telnetlib",
    "http.client",
    "xmlrpc",
    "signal",
    "gc",
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
    ("builtins", "setattr"),
    ("builtins", "delattr"),
    ("builtins", "globals"),
    ("builtins", "locals"),
    ("builtins", "vars"),
    ("builtins", "input"),
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

/// Python 2 module names CPython's unpickler maps to Python 3 ones (`_compat_pickle`) for
/// protocols 0-2; the security-relevant ones, so `commands.getoutput` is judged as
/// `subprocess.getoutput`.
const PY2_MODULES: &[(&str, &str)] = &[
    ("__builtin__", "builtins"),
    ("exceptions", "builtins"),
    ("copy_reg", "copyreg"),
    ("cPickle", "pickle"),
    ("commands", "subprocess"),
    ("urllib2", "urllib.request"),
    ("httplib", "http.client"),
    ("thread", "_thread"),
    ("SocketServer", "socketserver"),
    ("BaseHTTPServer", "http.server"),
    ("SimpleHTTPServer", "http.server"),
    ("CGIHTTPServer", "http.server"),
    ("xmlrpclib", "xmlrpc.client"),
    ("StringIO", "io"),
    ("cStringIO", "io"),
    ("UserDict", "collections"),
];

/// The import picklescan-style lists say nothing about: how one `module.name` is judged.
fn judge(module: &str, name: &str) -> Verdict {
    let blocked_module = BLOCKED_MODULES
        .iter()
        .any(|m| module == *m || module.starts_with(&format!("{m}.")));
    if blocked_module || BLOCKED_NAMES.contains(&(module, name)) || module == "unknown" {
        return Verdict::Dangerous;
    }
    if ALLOWED.contains(&(module, name)) {
        Verdict::Safe
    } else {
        Verdict::Unknown
    }
}

pub fn verdict(i: &Import) -> Verdict {
    // A dotted name is an attribute path from the module (protocol 4's qualified names):
    // `torch._utils` + `_rebuild_tensor_v2.__globals__...` reaches anything.
    if i.name.contains('.') || i.name.is_empty() || i.module.is_empty() {
        return Verdict::Dangerous;
    }
    let mapped = PY2_MODULES
        .iter()
        .find(|(old, _)| *old == i.module)
        .map(|(_, new)| *new);
    let verdicts = [Some(i.module.as_str()), mapped]
        .into_iter()
        .flatten()
        .map(|m| judge(m, &i.name));
    verdicts
        .max_by_key(|v| match v {
            Verdict::Safe => 0,
            Verdict::Unknown => 1,
            Verdict::Dangerous => 2,
        })
        .unwrap_or(Verdict::Dangerous)
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
        assert_eq!(verdict(&i("commands", "getoutput")), Verdict::Dangerous);
        assert_eq!(verdict(&i("__builtin__", "eval")), Verdict::Dangerous);
        assert_eq!(
            verdict(&i("torch._utils", "_rebuild_tensor_v2.__globals__")),
            Verdict::Dangerous
        );
    }
}
