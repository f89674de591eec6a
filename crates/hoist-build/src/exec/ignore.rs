//! Ignore files of the build context (`.dockerignore`, or the build file's
//! own: see `context`), with Docker's rules: one pattern a line (`#` starts a
//! comment line, blank lines are skipped, surrounding space
//! trimmed), paths relative to the context root (a leading `/` and `.`/`..`
//! parts cleaned away), the glob syntax of COPY with `**` for any depth, a
//! pattern excluding a directory excludes what is in it, and `!` re-includes
//! what an earlier line excluded: the last line that matches a path decides.
//! Ignored files are not in the context at all: COPY and ADD cannot see them
//! and the step cache does not look at them.

use super::copy::clean;
use super::glob::Glob;

/// The patterns of one `.dockerignore`.
#[derive(Debug)]
pub(crate) struct Ignore {
    rules: Vec<(Glob, bool)>,
}

impl Ignore {
    /// Reads the text of a `.dockerignore`; the error names the bad line.
    pub(crate) fn parse(text: &str) -> Result<Ignore, String> {
        let mut rules = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (pattern, include) = match line.strip_prefix('!') {
                Some(rest) => (rest.trim(), true),
                None => (line, false),
            };
            let cleaned = clean(pattern);
            if cleaned.is_empty() {
                continue;
            }
            let glob = Glob::parse(&cleaned, true).map_err(|e| format!("line {}: {e}", n + 1))?;
            rules.push((glob, include));
        }
        Ok(Ignore { rules })
    }

    /// Whether `path` (relative, `/`-separated) is left out of the context.
    pub(crate) fn excludes(&self, path: &str) -> bool {
        let mut excluded = false;
        for (glob, include) in &self.rules {
            if glob.matches_or_parent(path) {
                excluded = !include;
            }
        }
        excluded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_rules() {
        let ignore = Ignore::parse("# comment\n\n  *.md \n/models/*\n!models/keep.gguf\n**/tmp\n../secret\n").unwrap();
        let excluded = |p| ignore.excludes(p);
        assert!(excluded("README.md"));
        assert!(!excluded("docs/README.md"), "* does not cross /");
        assert!(excluded("models/a.gguf"));
        assert!(!excluded("models/keep.gguf"));
        assert!(!excluded("models"), "the directory itself stays");
        assert!(excluded("a/b/tmp/x.bin"), "** at any depth, and what is under a match");
        assert!(excluded("secret"));
        assert!(!excluded("GGUFPackerfile"));
        assert!(Ignore::parse("ok\n[z-\n").unwrap_err().starts_with("line 2: "));
    }
}
