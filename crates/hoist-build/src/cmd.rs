//! CMD of a model image: llama-server's arguments. The values after the options
//! that name files say which files are the model, its draft model, its projector
//! and its adapters; an image must name its model.

/// Which CMD argument names a file, and the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdFile {
    /// The index of the value in CMD's arguments.
    pub index: usize,
    pub path: String,
}

/// The files CMD names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelFiles {
    /// `-m` / `--model`.
    pub model: Option<CmdFile>,
    /// `-md` / `--model-draft`.
    pub draft: Option<CmdFile>,
    /// `--mmproj`.
    pub projector: Option<CmdFile>,
    /// `--lora`, `--lora-scaled`, `--control-vector`, `--control-vector-scaled`.
    pub adapters: Vec<CmdFile>,
}

/// Why CMD's arguments do not describe a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdError {
    #[error("{option} needs {count} value(s) after it")]
    MissingValue { option: String, count: usize },
    #[error("CMD must name the model with -m or --model")]
    NoModel,
}

impl ModelFiles {
    /// Reads the file options of `args`. An empty value (an unset variable) names
    /// nothing, as in gguf-packer; the last `-m` wins.
    pub fn from_args(args: &[String]) -> Result<Self, CmdError> {
        let mut files = ModelFiles::default();
        let mut i = 0;
        while i < args.len() {
            let option = args[i].as_str();
            let (count, slot): (usize, fn(&mut ModelFiles, CmdFile)) = match option {
                "-m" | "--model" => (1, |f, c| f.model = Some(c)),
                "-md" | "--model-draft" => (1, |f, c| f.draft = Some(c)),
                "--mmproj" => (1, |f, c| f.projector = Some(c)),
                "--lora" | "--control-vector" => (1, |f, c| f.adapters.push(c)),
                // A file and its scale.
                "--lora-scaled" | "--control-vector-scaled" => (2, |f, c| f.adapters.push(c)),
                _ => {
                    i += 1;
                    continue;
                }
            };
            if i + count >= args.len() {
                return Err(CmdError::MissingValue { option: option.to_string(), count });
            }
            if !args[i + 1].is_empty() {
                slot(&mut files, CmdFile { index: i + 1, path: args[i + 1].clone() });
            }
            i += 1 + count;
        }
        if files.model.is_none() {
            return Err(CmdError::NoModel);
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn files_and_their_indexes() {
        let f = ModelFiles::from_args(&args(&[
            "-c",
            "8192",
            "--model",
            "m.gguf",
            "-md",
            "d.gguf",
            "--mmproj",
            "p.gguf",
            "--lora",
            "a.gguf",
            "--lora-scaled",
            "b.gguf",
            "0.5",
            "--control-vector-scaled",
            "c.gguf",
            "1",
            "--control-vector",
            "",
        ]))
        .unwrap();
        assert_eq!(f.model, Some(CmdFile { index: 3, path: "m.gguf".into() }));
        assert_eq!(f.draft.unwrap().index, 5);
        assert_eq!(f.projector.unwrap().path, "p.gguf");
        let adapters: Vec<_> = f.adapters.iter().map(|a| (a.index, a.path.as_str())).collect();
        assert_eq!(adapters, [(9, "a.gguf"), (11, "b.gguf"), (14, "c.gguf")]);
    }

    #[test]
    fn errors() {
        assert_eq!(ModelFiles::from_args(&args(&["-c", "1"])), Err(CmdError::NoModel));
        assert_eq!(ModelFiles::from_args(&args(&["-m", ""])), Err(CmdError::NoModel));
        assert_eq!(
            ModelFiles::from_args(&args(&["-m", "x", "--lora-scaled", "a"])),
            Err(CmdError::MissingValue { option: "--lora-scaled".into(), count: 2 })
        );
        assert_eq!(
            CmdError::MissingValue { option: "-m".into(), count: 1 }.to_string(),
            "-m needs 1 value(s) after it"
        );
    }
}
