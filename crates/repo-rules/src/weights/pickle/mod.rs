//! Pickle imports, found by running CPython's unpickler as a symbolic machine: every opcode of
//! protocols 0 to 5 moves the stack, the marks and the memo exactly as `_pickle.c` does
//! (underflow below a mark, `POP` taking a mark, `MEMOIZE` keyed by the memo's size, text
//! memo keys through `PyLong_FromString`), but values are only "this string" or "something",
//! and nothing is ever called. An import is every `GLOBAL`, `INST`, `STACK_GLOBAL` and
//! extension code the unpickler would resolve, in order, up to the first point where the
//! unpickler would fail (what ran before a failure still ran).
//!
//! The input is read through ranged reads with a small window: big byte strings are skipped,
//! not read, so a payload after a gigabyte of padding is found at the cost of its opcodes.
//! Anything this reader cannot follow (a name computed at load time, an extension code, a
//! string too long to keep, more opcodes than the budget) is reported, never passed over.

mod lists;
mod reader;
mod text;

pub use lists::{verdict, Import, Verdict};

use std::collections::HashMap;
use std::rc::Rc;

use super::zip::ReadAt;
use reader::Reader;

/// Opcodes one file may cost: about a second of walking.
const MAX_OPS: u64 = 50_000_000;
/// Pickles in a row (legacy PyTorch files hold five).
const MAX_PICKLES: usize = 16;
/// Memo entries, stack depth and marks a walk keeps.
const MAX_ENTRIES: usize = 1 << 20;

/// What a scan found: the imports, in the order the unpickler would resolve them (deduplicated),
/// and why it stopped early, if it did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub imports: Vec<Import>,
    pub error: Option<String>,
    /// Whether the bytes were a pickle: a whole stream was read, or an import was met.
    pub is_pickle: bool,
}

/// Scans the pickles at the start of an object of `size` bytes. `strict`: the file is known
/// to be pickle-bearing, so not being a pickle is an error too.
pub fn scan(read: ReadAt<'_>, size: u64, strict: bool) -> Report {
    let mut r = Reader::new(read, size);
    let mut report = Report::default();
    let mut ops = 0u64;
    for n in 0..MAX_PICKLES {
        let start = r.pos;
        let starts_with_proto = r.peek2().is_some_and(|(a, b)| a == 0x80 && b <= 5);
        let mut found = Vec::new();
        let res = walk(&mut r, &mut found, &mut ops);
        let complete = res.is_ok();
        // The first pickle always counts. After it, bytes that make no whole pickle, start
        // with no PROTO and import nothing are the raw data legacy checkpoints keep after
        // their pickles; a later pickle that imports before it breaks still ran its imports.
        let counts = n == 0 || complete || starts_with_proto || !found.is_empty();
        if !counts {
            break;
        }
        if n == 0 {
            // A FRAME met on the way makes it a pickle, wherever it stands (found by the
            // pickle_oracle target: EMPTY_DICTs, then PROTO and a frame-crossing GLOBAL).
            report.is_pickle = complete || !found.is_empty() || r.framed;
        }
        report.imports.extend(found);
        if let Err(e) = res {
            if strict || report.is_pickle || n > 0 {
                report.error = Some(format!("{e} (in the pickle at byte {start})"));
            }
            break;
        }
        if r.pos >= size {
            break;
        }
    }
    let mut seen = std::collections::HashSet::new();
    report.imports.retain(|i| seen.insert(i.clone()));
    if strict && !report.is_pickle && report.error.is_none() {
        report.error = Some("not a pickle".into());
    }
    report
}

/// A scan of bytes in memory.
pub fn scan_bytes(data: &[u8], strict: bool) -> Report {
    let read = super::unpickle::slice_reader(data);
    scan(&read, data.len() as u64, strict)
}

/// What the walk knows of a value: a string it could name an import with, or anything else.
#[derive(Debug, Clone)]
enum V {
    Str(Rc<str>),
    Other,
}

fn text(b: Option<Vec<u8>>) -> V {
    match b {
        Some(b) => match String::from_utf8(b) {
            Ok(s) => V::Str(s.into()),
            Err(_) => V::Other,
        },
        None => V::Other,
    }
}

/// Latin-1 text: the bytes of `STRING`/`BINSTRING` as the default `encoding="ASCII"` (or a
/// permissive one) turns them into a `str`.
fn latin1(b: Option<Vec<u8>>) -> V {
    match b {
        Some(b) => V::Str(b.iter().map(|c| char::from(*c)).collect::<String>().into()),
        None => V::Other,
    }
}

/// The stack and marks of `_pickle.c`: values above the last mark (the fence) only.
struct Machine {
    stack: Vec<V>,
    marks: Vec<usize>,
    memo: HashMap<i128, V>,
}

impl Machine {
    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn push(&mut self, v: V) -> Result<(), String> {
        if self.stack.len() >= MAX_ENTRIES {
            return Err("the stack is too deep to analyse".into());
        }
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self) -> Result<V, String> {
        if self.stack.len() <= self.fence() {
            return Err("stack underflow".into());
        }
        Ok(self.stack.pop().expect("above the fence"))
    }

    fn top(&self) -> Result<V, String> {
        if self.stack.len() <= self.fence() {
            return Err("stack underflow".into());
        }
        Ok(self.stack.last().cloned().expect("above the fence"))
    }

    /// `marker()`: drops the last mark and everything above it.
    fn pop_mark(&mut self) -> Result<Vec<V>, String> {
        let m = self.marks.pop().ok_or("no MARK to pop to")?;
        Ok(self.stack.split_off(m))
    }

    fn memo_put(&mut self, key: i128) -> Result<(), String> {
        if key < 0 {
            return Err("negative memo key".into());
        }
        let v = self.top()?;
        if self.memo.len() >= MAX_ENTRIES && !self.memo.contains_key(&key) {
            return Err("the memo is too large to analyse".into());
        }
        self.memo.insert(key, v);
        Ok(())
    }

    fn memo_get(&mut self, key: i128) -> Result<(), String> {
        let v = self
            .memo
            .get(&key)
            .cloned()
            .ok_or_else(|| format!("memo key {key} was never set"))?;
        self.push(v)
    }
}

fn import(module: &[u8], name: &[u8]) -> Import {
    Import {
        module: String::from_utf8_lossy(module).into_owned(),
        name: String::from_utf8_lossy(name).into_owned(),
    }
}

/// The `module\nname\n` of `GLOBAL` and `INST`; CPython refuses an empty line there
/// (`bad_readline`) before it imports anything. A line too long to keep is still one CPython
/// would import from: it is reported as an import the scanner cannot name (found by the
/// pickle_oracle fuzz target: `os` and a 144 KB name), and the walk stops.
fn global_lines(r: &mut Reader<'_>, found: &mut Vec<Import>) -> Result<(Vec<u8>, Vec<u8>), String> {
    let module = r.name_line()?;
    let name = r.name_line()?;
    let (Some(module), Some(name)) = (module, name) else {
        found.push(Import {
            module: "unknown".into(),
            name: "a module or name too long to read".into(),
        });
        return Err("a GLOBAL or INST line too long to read".into());
    };
    if module.is_empty() || name.is_empty() {
        return Err("an empty module or name line".into());
    }
    Ok((module, name))
}

/// Walks one pickle from the reader's position to its `STOP`.
fn walk(r: &mut Reader<'_>, found: &mut Vec<Import>, ops: &mut u64) -> Result<(), String> {
    let mut m = Machine {
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    loop {
        *ops += 1;
        if *ops > MAX_OPS {
            return Err(format!("more than {MAX_OPS} opcodes to analyse"));
        }
        let at = r.pos;
        let op = r.byte().map_err(|_| format!("no STOP before byte {at}"))?;
        step(r, &mut m, found, op).map_err(|e| format!("opcode 0x{op:02x} at byte {at}: {e}"))?;
        if op == b'.' {
            return Ok(());
        }
    }
}

/// One opcode, as `_pickle.c`'s `load_*` function for it moves the machine.
fn step(
    r: &mut Reader<'_>,
    m: &mut Machine,
    found: &mut Vec<Import>,
    op: u8,
) -> Result<(), String> {
    let o = V::Other;
    match op {
        b'.' => {
            m.pop()?; // STOP
        }
        b'(' => {
            if m.marks.len() >= MAX_ENTRIES {
                return Err("too many marks to analyse".into());
            }
            m.marks.push(m.stack.len());
        }
        b'0' => {
            // POP takes the mark when the mark is on top.
            if m.marks.last() == Some(&m.stack.len()) {
                m.marks.pop();
            } else {
                m.pop()?;
            }
        }
        b'1' => {
            m.pop_mark()?;
        }
        b'2' => {
            let v = m.top()?;
            m.push(v)?;
        }
        // Imports.
        b'c' => {
            let (module, name) = global_lines(r, found)?;
            found.push(import(&module, &name));
            m.push(o)?;
        }
        b'i' => {
            if m.marks.is_empty() {
                return Err("INST without a MARK".into());
            }
            let (module, name) = global_lines(r, found)?;
            found.push(import(&module, &name));
            m.pop_mark()?;
            m.push(o)?;
        }
        0x93 => {
            let name = m.pop()?;
            let module = m.pop()?;
            match (module, name) {
                (V::Str(module), V::Str(name)) => found.push(Import {
                    module: module.to_string(),
                    name: name.to_string(),
                }),
                _ => found.push(Import {
                    module: "unknown".into(),
                    name: "a name computed at load time".into(),
                }),
            }
            m.push(o)?;
        }
        0x82..=0x84 => {
            let code = r.uint(match op {
                0x82 => 1,
                0x83 => 2,
                _ => 4,
            })?;
            found.push(Import {
                module: "unknown".into(),
                name: format!("copyreg extension code {code}"),
            });
            m.push(o)?;
        }
        // Strings a STACK_GLOBAL may use.
        0x8c => {
            let n = r.uint(1)?;
            let s = r.string(n)?;
            m.push(text(s))?;
        }
        b'X' => {
            let n = r.uint(4)?;
            let s = r.string(n)?;
            m.push(text(s))?;
        }
        0x8d => {
            let n = r.uint(8)?;
            let s = r.string(n)?;
            m.push(text(s))?;
        }
        // CPython reads a line argument of any length: one too long to keep is a value the
        // walk cannot name (as a long binary string is), never the end of the pickle (found
        // by the pickle_oracle fuzz target: a 75 KB UNICODE line used as a STACK_GLOBAL name).
        b'V' => match r.name_line()? {
            Some(line) => {
                let s = text::py_raw_unicode(&line).ok_or("a UNICODE argument CPython refuses")?;
                m.push(V::Str(s.into()))?;
            }
            None => m.push(o)?,
        },
        b'S' => match r.name_line()? {
            Some(line) => {
                let s = text::py_string(&line).ok_or("a STRING argument CPython refuses")?;
                m.push(latin1(Some(s)))?;
            }
            None => m.push(o)?,
        },
        b'U' => {
            let n = r.uint(1)?;
            let s = r.string(n)?;
            m.push(latin1(s))?;
        }
        b'T' => {
            let n = r.uint(4)?;
            if n > i32::MAX as u64 {
                return Err("a negative BINSTRING length".into());
            }
            let s = r.string(n)?;
            m.push(latin1(s))?;
        }
        // Bytes: never a str, so never a name.
        b'C' | b'B' | 0x8e | 0x96 => {
            let n = r.uint(match op {
                b'C' => 1,
                b'B' => 4,
                _ => 8,
            })?;
            r.skip(n)?;
            m.push(o)?;
        }
        // Memo.
        b'p' => m.memo_put(text::py_int(&r.line()?).ok_or("a PUT key CPython refuses")?)?,
        b'q' => {
            let k = r.uint(1)?;
            m.memo_put(i128::from(k))?;
        }
        b'r' => {
            let k = r.uint(4)?;
            m.memo_put(i128::from(k))?;
        }
        0x94 => {
            let k = m.memo.len() as i128;
            m.memo_put(k)?;
        }
        b'g' => m.memo_get(text::py_int(&r.line()?).ok_or("a GET key CPython refuses")?)?,
        b'h' => {
            let k = r.uint(1)?;
            m.memo_get(i128::from(k))?;
        }
        b'j' => {
            let k = r.uint(4)?;
            m.memo_get(i128::from(k))?;
        }
        // Other values.
        b'K' | b'M' | b'J' | b'G' => {
            r.skip(match op {
                b'K' => 1,
                b'M' => 2,
                b'J' => 4,
                _ => 8,
            })?;
            m.push(o)?;
        }
        0x8a | 0x8b => {
            let n = r.uint(if op == 0x8a { 1 } else { 4 })?;
            r.skip(n)?;
            m.push(o)?;
        }
        b'I' | b'L' | b'F' | b'P' => {
            r.name_line()?;
            m.push(o)?;
        }
        b'N' | 0x88 | 0x89 | b')' | b']' | b'}' | 0x8f | 0x97 => m.push(o)?,
        0x80 => {
            if r.byte()? > 5 {
                return Err("unsupported pickle protocol".into());
            }
        }
        0x95 => {
            let len = r.uint(8)?;
            r.frame(len)?;
        }
        // Taking values off the stack.
        b'Q' | 0x98 | 0x85 => {
            m.pop()?;
            m.push(o)?;
        }
        b'R' | 0x81 | 0x86 => {
            m.pop()?;
            m.pop()?;
            m.push(o)?;
        }
        0x92 | 0x87 => {
            for _ in 0..3 {
                m.pop()?;
            }
            m.push(o)?;
        }
        b'a' | b'b' => {
            m.pop()?;
            m.top()?;
        }
        b's' => {
            m.pop()?;
            m.pop()?;
            m.top()?;
        }
        b'e' | 0x90 => {
            m.pop_mark()?;
            m.top()?;
        }
        b'u' => {
            if m.pop_mark()?.len() % 2 == 1 {
                return Err("an odd number of items for SETITEMS".into());
            }
            m.top()?;
        }
        b't' | b'l' | b'd' | 0x91 => {
            m.pop_mark()?;
            m.push(o)?;
        }
        b'o' => {
            if m.pop_mark()?.is_empty() {
                return Err("OBJ without a class".into());
            }
            m.push(o)?;
        }
        _ => return Err("not a pickle opcode".into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests;
