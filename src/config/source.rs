//! Source files and positions.
//!
//! Every diagnostic points into a file the user wrote, so positions are kept as byte spans
//! into the original text and turned into 1-based line and column numbers only for display.

use std::fmt;

/// A byte range `[start, end)` in one source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span covering `start..end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span {
            start,
            end: end.max(start),
        }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// Index of a file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub(crate) usize);

/// One file's text, with a line table so spans can be shown as `line:column`.
#[derive(Debug, Clone)]
pub struct SourceFile {
    name: String,
    text: String,
    line_starts: Vec<usize>,
    /// Byte offset of every char, only when the text is not ASCII (the parser counts chars).
    char_bytes: Option<Vec<usize>>,
}

impl SourceFile {
    /// A file with this display name and text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let char_bytes = (!text.is_ascii()).then(|| {
            let mut v: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            v.push(text.len());
            v
        });
        SourceFile {
            name: name.into(),
            text,
            line_starts,
            char_bytes,
        }
    }

    /// The name shown in diagnostics (the path as the user gave it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The whole text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// 1-based line and 1-based column (in characters) of a byte offset.
    pub fn line_col(&self, byte: usize) -> (usize, usize) {
        let byte = byte.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= byte) - 1;
        let start = self.line_starts[line];
        let col = self.text.get(start..byte).map_or(byte - start, |s| {
            s.trim_start_matches('\u{feff}').chars().count()
        });
        (line + 1, col + 1)
    }

    /// Byte offset of a character index (the YAML parser reports character indices).
    pub fn byte_of_char(&self, char_index: usize) -> usize {
        match &self.char_bytes {
            None => char_index.min(self.text.len()),
            Some(v) => v.get(char_index).copied().unwrap_or(self.text.len()),
        }
    }
}

/// All files loaded in one run; diagnostics refer to them by [`FileId`].
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file and returns its id.
    pub fn add(&mut self, file: SourceFile) -> FileId {
        self.files.push(file);
        FileId(self.files.len() - 1)
    }

    /// The file behind an id.
    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0]
    }

    /// `file:line:col` of a byte offset in a file (1-based line and column).
    pub fn position(&self, id: FileId, byte: usize) -> String {
        let f = self.get(id);
        let (line, col) = f.line_col(byte);
        format!("{}:{line}:{col}", f.name())
    }

    /// All files with their ids, in load order.
    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (FileId(i), f))
    }
}

/// Where a value came from: a file, a span in it and the field path leading to it
/// (`Resources.ColorRoute.Properties.Spec.HttpRoute.Action.WeightedTargets[0].Weight`),
/// spelled the way the file spells it.
#[derive(Clone, Debug, Default)]
pub struct Loc {
    /// The file, if the value came from one.
    pub file: Option<FileId>,
    /// The bytes of the value.
    pub span: Span,
    /// The field path in the file's own spelling.
    pub path: String,
}

impl Loc {
    /// A location in a file.
    pub fn new(file: FileId, span: Span, path: impl Into<String>) -> Self {
        Loc {
            file: Some(file),
            span,
            path: path.into(),
        }
    }
}

/// A value together with where it was written.
///
/// Equality, ordering and hashing look at the value only, so that the same mesh written in
/// two syntaxes compares equal (the convention of `serde_spanned::Spanned`).
#[derive(Clone, Debug, Default)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub at: Loc,
}

impl<T> Located<T> {
    /// A value with a location.
    pub fn new(value: T, at: Loc) -> Self {
        Located { value, at }
    }

    /// A value made up by the program (a default), with no location.
    pub fn synthetic(value: T) -> Self {
        Located {
            value,
            at: Loc::default(),
        }
    }
}

impl<T: PartialEq> PartialEq for Located<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}
impl<T: Eq> Eq for Located<T> {}

impl<T: PartialOrd> PartialOrd for Located<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.value.partial_cmp(&other.value)
    }
}
impl<T: Ord> Ord for Located<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}

impl<T: fmt::Display> fmt::Display for Located<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T> std::ops::Deref for Located<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_is_one_based_and_counts_chars() {
        let f = SourceFile::new("x", "ab\nçd: e\n");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        // 'ç' is two bytes; 'd' is the second character of line 2.
        assert_eq!(f.line_col(5), (2, 2));
        assert_eq!(f.byte_of_char(4), 5);
    }
}
