//! Variables while planning: the globals, the current stage's variables, which
//! names were declared (a use of an undeclared one is reported) and which
//! `--build-arg`s were taken. It also expands instructions into [`Step`]s.

use std::collections::{BTreeMap, BTreeSet};

use super::step::{Content, FileOptions, FromRef, QuantizeStep, Step, StepKind};
use super::{PlanReporter, invalid};
use crate::cmd::ModelFiles;
use crate::error::Error;
use crate::expand::Lexer;
use crate::instruction::{self, ArgDef, Command, Files, Instruction, Source};
use crate::location::{Location, Word};

pub(super) struct Scope<'a> {
    lexer: Lexer,
    build_args: &'a BTreeMap<String, String>,
    reporter: &'a dyn PlanReporter,
    globals: BTreeMap<String, String>,
    global_names: BTreeSet<String>,
    /// The current stage's variables and declared names.
    env: BTreeMap<String, String>,
    declared: BTreeSet<String>,
    /// Each planned stage's variables at its end.
    ended: BTreeMap<usize, BTreeMap<String, String>>,
    used_build_args: BTreeSet<String>,
    /// (line, column, name) of undeclared uses already reported.
    reported: BTreeSet<(usize, usize, String)>,
}

impl<'a> Scope<'a> {
    pub(super) fn new(lexer: Lexer, build_args: &'a BTreeMap<String, String>, reporter: &'a dyn PlanReporter) -> Self {
        Self {
            lexer,
            build_args,
            reporter,
            globals: BTreeMap::new(),
            global_names: BTreeSet::new(),
            env: BTreeMap::new(),
            declared: BTreeSet::new(),
            ended: BTreeMap::new(),
            used_build_args: BTreeSet::new(),
            reported: BTreeSet::new(),
        }
    }

    pub(super) fn globals(&self) -> &BTreeMap<String, String> {
        &self.globals
    }

    /// An ARG before the first FROM.
    pub(super) fn declare_global(&mut self, defs: &[ArgDef]) -> Result<(), Error> {
        for def in defs {
            let name = def.name.text.clone();
            self.global_names.insert(name.clone());
            let value = match (self.build_args.get(&name), &def.default) {
                (Some(v), _) => {
                    self.used_build_args.insert(name.clone());
                    Some(v.clone())
                }
                (None, Some(d)) => Some(self.expand_with(d, Env::Globals)?),
                (None, None) => None,
            };
            if let Some(v) = value {
                self.globals.insert(name, v);
            }
        }
        Ok(())
    }

    /// A FROM word, seen with the globals only.
    pub(super) fn expand_global(&mut self, word: &Word) -> Result<String, Error> {
        self.expand_with(word, Env::Globals)
    }

    pub(super) fn begin_stage(&mut self, inherited: BTreeMap<String, String>) {
        self.declared = self.global_names.iter().chain(inherited.keys()).cloned().collect();
        self.env = inherited;
        self.env.extend(self.globals.iter().map(|(k, v)| (k.clone(), v.clone())));
    }

    /// Sets the current stage's variables aside while another stage is planned.
    pub(super) fn suspend(&mut self) -> (BTreeMap<String, String>, BTreeSet<String>) {
        (std::mem::take(&mut self.env), std::mem::take(&mut self.declared))
    }

    pub(super) fn resume(&mut self, saved: (BTreeMap<String, String>, BTreeSet<String>)) {
        (self.env, self.declared) = saved;
    }

    pub(super) fn end_stage(&mut self, index: usize) {
        self.ended.insert(index, std::mem::take(&mut self.env));
    }

    pub(super) fn stage_env(&self, index: usize) -> BTreeMap<String, String> {
        self.ended.get(&index).cloned().unwrap_or_default()
    }

    /// An ARG inside a stage: a `--build-arg` wins, then the default, then the
    /// global of that name.
    pub(super) fn declare(&mut self, defs: &[ArgDef]) -> Result<(), Error> {
        for def in defs {
            let name = def.name.text.clone();
            self.declared.insert(name.clone());
            let value = match (self.build_args.get(&name), &def.default) {
                (Some(v), _) => {
                    self.used_build_args.insert(name.clone());
                    Some(v.clone())
                }
                (None, Some(d)) => Some(self.expand_with(d, Env::Stage)?),
                (None, None) => self.globals.get(&name).cloned(),
            };
            if let Some(v) = value {
                self.env.insert(name, v);
            }
        }
        Ok(())
    }

    pub(super) fn report_unused_build_args(&self) {
        for name in self.build_args.keys() {
            if !self.used_build_args.contains(name) {
                self.reporter.warning(&format!(
                    "--build-arg {name} was not used: no ARG {name} in the global scope or the stages built"
                ));
            }
        }
    }

    fn expand_with(&mut self, word: &Word, env: Env) -> Result<String, Error> {
        let vars = match env {
            Env::Globals => &self.globals,
            Env::Stage => &self.env,
        };
        let out = self.lexer.expand(&word.text, vars).map_err(|source| Error::Expand {
            at: word.at.clone(),
            source,
            text: word.text.clone(),
        })?;
        let declared = match env {
            Env::Globals => &self.global_names,
            Env::Stage => &self.declared,
        };
        for name in out.unmatched {
            if !declared.contains(&name) && self.reported.insert((word.at.line, word.at.column, name.clone())) {
                self.reporter.warning(&format!("{}: variable {name} is not declared by any ARG", word.at));
            }
        }
        Ok(out.value)
    }

    fn word(&mut self, word: &Word) -> Result<String, Error> {
        self.expand_with(word, Env::Stage)
    }

    fn opt(&mut self, word: &Option<Word>) -> Result<Option<String>, Error> {
        word.as_ref().map(|w| self.word(w)).transpose()
    }

    fn list(&mut self, words: &[Word]) -> Result<Vec<String>, Error> {
        words.iter().map(|w| self.word(w)).collect()
    }

    /// A heredoc body: variables expand (unless the name was quoted), quotes stay.
    fn heredoc(&mut self, at: &Location, name: &str, data: &str, expand: bool) -> Result<String, Error> {
        if !expand {
            return Ok(data.to_string());
        }
        let mut lexer = Lexer::new('\\');
        lexer.skip_quotes = true;
        lexer.expand(data, &self.env).map(|e| e.value).map_err(|source| Error::Expand {
            at: at.clone(),
            source,
            text: format!("<<{name}"),
        })
    }

    fn contents(&mut self, inst: &Instruction, files: &Files) -> Result<(Vec<Content>, String), Error> {
        let mut out = Vec::new();
        for s in &files.sources {
            out.push(match s {
                Source::Word(w) => Content::Path(self.word(w)?),
                Source::Heredoc(h) => Content::Inline {
                    name: h.name.clone(),
                    data: self.heredoc(&inst.at, &h.name, &h.content, h.expand)?,
                },
            });
        }
        Ok((out, self.word(&files.dest)?))
    }

    fn file_options(&mut self, o: &instruction::FileOptions) -> Result<FileOptions, Error> {
        Ok(FileOptions {
            chown: self.opt(&o.chown)?,
            chmod: self.opt(&o.chmod)?,
            link: o.link,
            exclude: self.list(&o.exclude)?,
        })
    }

    /// Where `--from` points, `default` when it is not given.
    fn from(
        &mut self,
        inst: &Instruction,
        from: &Option<Word>,
        default: FromRef,
        lookup: &dyn Fn(&str) -> Result<FromRef, String>,
    ) -> Result<FromRef, Error> {
        let Some(word) = from else { return Ok(default) };
        let value = self.word(word)?;
        match lookup(&value) {
            Ok(r) => Ok(r),
            Err(why) if !why.is_empty() => Err(invalid(inst, format!("--from={value}: {why}"))),
            Err(_) if value.is_empty() => Err(Error::Invalid {
                at: word.at.clone(),
                message: format!("--from={} names nothing (an undefined variable?)", word.text),
                text: inst.text.clone(),
            }),
            Err(_) => Err(Error::UndefinedStage { at: word.at.clone(), name: value, text: inst.text.clone() }),
        }
    }

    /// Expands one instruction (not ARG or FROM) into a step.
    pub(super) fn step(
        &mut self,
        inst: &Instruction,
        lookup: &dyn Fn(&str) -> Result<FromRef, String>,
    ) -> Result<Step, Error> {
        let kind = match &inst.command {
            Command::Add(a) => {
                let (sources, dest) = self.contents(inst, &a.files)?;
                StepKind::Add {
                    sources,
                    dest,
                    options: self.file_options(&a.options)?,
                    keep_git_dir: a.keep_git_dir,
                    checksum: self.opt(&a.checksum)?,
                }
            }
            Command::Copy(c) => {
                let from = self.from(inst, &c.from, FromRef::Context, lookup)?;
                let (sources, dest) = self.contents(inst, &c.files)?;
                StepKind::Copy { from, sources, dest, options: self.file_options(&c.options)?, parents: c.parents }
            }
            Command::Cat(files) => {
                let (contents, dest) = self.contents(inst, files)?;
                StepKind::Cat { parts: cat_parts(contents), dest }
            }
            Command::Label(pairs) => {
                let mut out = Vec::new();
                for p in pairs {
                    out.push((self.word(&p.key)?, self.word(&p.value)?));
                }
                StepKind::Label(out)
            }
            Command::Cmd(words) => {
                let args = self.list(words)?;
                let files = ModelFiles::from_args(&args).map_err(|e| invalid(inst, e.to_string()))?;
                StepKind::Cmd { args, files }
            }
            Command::Convert(c) => {
                let from = self.from(inst, &c.from, FromRef::Current, lookup)?;
                let class = self.opt(&c.class)?.unwrap_or_else(|| "model".into());
                // `--base=$UNSET` names no base.
                let base = self.opt(&c.base)?.filter(|b| !b.is_empty());
                match (class.as_str(), &base) {
                    ("model", None) | ("lora", Some(_)) => {}
                    ("lora", None) => {
                        return Err(invalid(inst, "CONVERT --class=lora needs --base (the base model)".into()));
                    }
                    ("model", Some(_)) => {
                        return Err(invalid(
                            inst,
                            "CONVERT --base is for --class=lora (an adapter's base model)".into(),
                        ));
                    }
                    (other, _) => {
                        return Err(invalid(inst, format!("CONVERT --class={other}: --class must be model or lora")));
                    }
                }
                StepKind::Convert {
                    from,
                    src: self.word(&c.src)?,
                    dest: self.word(&c.dest)?,
                    class,
                    base,
                    out_type: non_empty(self.opt(&c.out_type)?, instruction::CONVERT_DEFAULT_TYPE),
                }
            }
            Command::Quantize(q) => StepKind::Quantize(Box::new(QuantizeStep {
                from: self.from(inst, &q.from, FromRef::Current, lookup)?,
                src: self.word(&q.src)?,
                dest: self.word(&q.dest)?,
                out_type: non_empty(self.opt(&q.out_type)?, instruction::QUANTIZE_DEFAULT_TYPE),
                imatrix: self.opt(&q.imatrix)?,
                include_weights: self.list(&q.include_weights)?,
                exclude_weights: self.list(&q.exclude_weights)?,
                leave_output_tensor: q.leave_output_tensor,
                pure: q.pure,
                output_tensor_type: self.opt(&q.output_tensor_type)?,
                token_embedding_type: self.opt(&q.token_embedding_type)?,
            })),
            Command::Arg(_) | Command::From(_) => unreachable!("the planner handles ARG and FROM"),
        };
        Ok(Step { at: inst.at.clone(), text: inst.text.clone(), kind })
    }
}

#[derive(Clone, Copy)]
enum Env {
    Globals,
    Stage,
}

/// A type option left empty (an unset variable) takes the default, as gguf-packer's
/// flag defaults do.
fn non_empty(value: Option<String>, default: &str) -> String {
    value.filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

/// CAT's pieces: heredoc bodies as they are, runs of words joined by one space.
fn cat_parts(contents: Vec<Content>) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut words: Option<String> = None;
    for c in contents {
        match c {
            Content::Path(w) => match &mut words {
                Some(run) => {
                    run.push(' ');
                    run.push_str(&w);
                }
                None => words = Some(w),
            },
            Content::Inline { data, .. } => {
                parts.extend(words.take());
                parts.push(data);
            }
        }
    }
    parts.extend(words);
    parts
}
