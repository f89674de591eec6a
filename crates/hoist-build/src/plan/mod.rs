//! Planning a build: ARG scoping, the expansion of every word, and the stage graph.
//!
//! - **Global ARGs** are the ARGs before the first FROM. Their values (a
//!   `--build-arg`, else the default expanded with the globals before them) expand
//!   the FROM lines and, as in gguf-packer, are visible in every stage without being
//!   declared again.
//! - **Stage ARGs** set a variable from the rest of the stage on: a `--build-arg` of
//!   that name wins, else the default (expanded with what the stage sees), else the
//!   global of that name. A stage built on another stage starts with what that
//!   stage saw at its end, the globals applied on top (gguf-packer's order).
//! - A `--build-arg` no ARG of the built stages (or the globals) declares is reported
//!   as a warning, as is a variable used but never declared.
//! - **Stages**: FROM names `scratch`, an earlier stage, or an image. `--from=`
//!   names a stage (by name or index, defined anywhere in the file), `context`, or an
//!   image (a reference with a `/`, `:` or `@`); any other name is an undefined stage.
//!   The target is `--target` or the last stage; only the stages it needs are
//!   planned (so errors in the others do not matter), dependencies first; stages
//!   that need each other are an error.

mod scope;
mod step;

use std::collections::{BTreeMap, BTreeSet};

pub use step::{Content, FileOptions, FromRef, QuantizeStep, Step, StepKind};

use crate::error::Error;
use crate::expand::Lexer;
use crate::instruction::{Command, From, Instruction};
use crate::location::Location;
use crate::parse::Buildfile;
use scope::Scope;

/// What the build was asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// `--build-arg NAME=VALUE`.
    pub build_args: BTreeMap<String, String>,
    /// `--target STAGE`.
    pub target: Option<String>,
}

/// Where planning reports what is allowed but probably not meant.
pub trait PlanReporter {
    fn warning(&self, message: &str);
}

/// A reporter that drops warnings.
pub struct NoPlanReporter;
impl PlanReporter for NoPlanReporter {
    fn warning(&self, _: &str) {}
}

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Scratch,
    /// An earlier stage, by index.
    Stage(usize),
    /// An image or model reference.
    Image(String),
}

/// A stage of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub index: usize,
    pub name: Option<String>,
    /// The FROM keyword's location.
    pub at: Location,
    /// The FROM instruction's text.
    pub text: String,
    pub base: Base,
    /// `--platform` of FROM, expanded.
    pub platform: Option<String>,
    /// Empty for stages the target does not need (they are not planned).
    pub steps: Vec<Step>,
    /// Stages this one needs (its base and its `--from`s), by index.
    pub needs: BTreeSet<usize>,
}

/// A planned build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Every stage of the file, in file order.
    pub stages: Vec<Stage>,
    /// The index of the target stage.
    pub target: usize,
    /// The stages to build, each after the stages it needs; the target is last.
    pub order: Vec<usize>,
    /// The global ARGs' values.
    pub globals: BTreeMap<String, String>,
}

/// Plans `file`. Parse warnings are reported too, so the caller has one channel.
pub fn plan(file: &Buildfile, options: &PlanOptions, reporter: &dyn PlanReporter) -> Result<Plan, Error> {
    for w in &file.warnings {
        reporter.warning(&w.to_string());
    }
    let lexer = Lexer::new(file.escape);
    let first_from = file.instructions.iter().position(|i| matches!(i.command, Command::From(_)));
    let head = &file.instructions[..first_from.unwrap_or(file.instructions.len())];
    let mut scope = Scope::new(lexer, &options.build_args, reporter);
    for inst in head {
        let Command::Arg(defs) = &inst.command else {
            return Err(invalid(inst, format!("{} comes before the first FROM: only ARG may", inst.command.keyword())));
        };
        scope.declare_global(defs)?;
    }
    let Some(first_from) = first_from else {
        let last = file.instructions.last().expect("a parsed file has instructions");
        return Err(invalid(last, "the file has no FROM".to_string()));
    };
    let mut planner = Planner { stages: Vec::new(), bodies: Vec::new(), state: Vec::new(), order: Vec::new(), scope };
    planner.read_stages(&file.instructions[first_from..])?;
    let target = planner.target(options.target.as_deref())?;
    planner.resolve(target, &mut Vec::new())?;
    let Planner { stages, order, scope, .. } = planner;
    scope.report_unused_build_args();
    Ok(Plan { stages, target, order, globals: scope.globals().clone() })
}

pub(crate) fn invalid(inst: &Instruction, message: String) -> Error {
    Error::Invalid { at: inst.at.clone(), message, text: inst.text.clone() }
}

/// How long a chain of stages needing stages may be (planning recurses along it).
pub const MAX_CHAIN: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Todo,
    Planning,
    Done,
}

struct Planner<'a> {
    stages: Vec<Stage>,
    /// Each stage's FROM and its other instructions.
    bodies: Vec<(&'a Instruction, &'a [Instruction])>,
    state: Vec<State>,
    order: Vec<usize>,
    scope: Scope<'a>,
}

impl<'a> Planner<'a> {
    /// Splits the file at its FROMs and resolves each FROM's base.
    fn read_stages(&mut self, instructions: &'a [Instruction]) -> Result<(), Error> {
        let mut starts: Vec<usize> = instructions
            .iter()
            .enumerate()
            .filter(|(_, i)| matches!(i.command, Command::From(_)))
            .map(|(n, _)| n)
            .collect();
        starts.push(instructions.len());
        for w in starts.windows(2) {
            let inst = &instructions[w[0]];
            let Command::From(from) = &inst.command else { unreachable!("stages start at FROM") };
            let index = self.stages.len();
            if let Some(name) = &from.name
                && let Some(other) = self.stages.iter().find(|s| s.name.as_ref() == Some(name))
            {
                return Err(invalid(inst, format!("a stage named {name:?} is already defined at {}", other.at)));
            }
            let stage = self.stage_from(inst, from, index)?;
            self.stages.push(stage);
            self.bodies.push((inst, &instructions[w[0] + 1..w[1]]));
            self.state.push(State::Todo);
        }
        Ok(())
    }

    fn stage_from(&mut self, inst: &Instruction, from: &From, index: usize) -> Result<Stage, Error> {
        let base_name = self.scope.expand_global(&from.base)?;
        let base = if base_name.is_empty() {
            return Err(invalid(inst, format!("the base {:?} expands to nothing", from.base.text)));
        } else if base_name == "scratch" {
            Base::Scratch
        } else if let Some(s) = self.find_stage(&base_name) {
            Base::Stage(s)
        } else {
            Base::Image(base_name)
        };
        let platform = from.platform.as_ref().map(|p| self.scope.expand_global(p)).transpose()?;
        let needs = match base {
            Base::Stage(s) => BTreeSet::from([s]),
            _ => BTreeSet::new(),
        };
        Ok(Stage {
            index,
            name: from.name.clone(),
            at: inst.at.clone(),
            text: inst.text.clone(),
            base,
            platform,
            steps: Vec::new(),
            needs,
        })
    }

    fn find_stage(&self, name: &str) -> Option<usize> {
        find_stage(&self.stages, name)
    }

    fn target(&self, name: Option<&str>) -> Result<usize, Error> {
        match name {
            None => Ok(self.stages.len() - 1),
            Some(n) => self.find_stage(n).ok_or_else(|| Error::UnknownTarget {
                name: n.to_string(),
                known: self.stages.iter().filter_map(|s| s.name.clone()).collect(),
            }),
        }
    }

    /// Plans stage `index` after the stages it needs. `path` holds the `--from`
    /// instructions being followed, to name a cycle.
    fn resolve(&mut self, index: usize, path: &mut Vec<(usize, Location)>) -> Result<(), Error> {
        if path.len() > MAX_CHAIN {
            return Err(Error::Invalid {
                at: self.stages[index].at.clone(),
                message: format!("stages need each other more than {MAX_CHAIN} deep"),
                text: self.stages[index].text.clone(),
            });
        }
        match self.state[index] {
            State::Done => return Ok(()),
            State::Planning => {
                let at = path.last().map_or_else(|| self.stages[index].at.clone(), |(_, at)| at.clone());
                let start = path.iter().position(|(s, _)| *s == index).unwrap_or(0);
                let mut names: Vec<String> = path[start..].iter().map(|(s, _)| self.stage_name(*s)).collect();
                names.push(self.stage_name(index));
                return Err(Error::Cycle { at, stages: names });
            }
            State::Todo => {}
        }
        self.state[index] = State::Planning;
        let mut env = BTreeMap::new();
        if let Base::Stage(b) = self.stages[index].base {
            path.push((index, self.stages[index].at.clone()));
            self.resolve(b, path)?;
            path.pop();
            env = self.scope.stage_env(b);
        }
        self.scope.begin_stage(env);
        let (_, body) = self.bodies[index];
        for inst in body {
            if let Command::Arg(defs) = &inst.command {
                self.scope.declare(defs)?;
                continue;
            }
            let stages = &self.stages;
            let step = self.scope.step(inst, &|name| lookup_stage(stages, name))?;
            if let Some(&FromRef::Stage(s)) = step_source(&step.kind) {
                self.stages[index].needs.insert(s);
                path.push((index, inst.at.clone()));
                let saved = self.scope.suspend();
                self.resolve(s, path)?;
                self.scope.resume(saved);
                path.pop();
            }
            self.stages[index].steps.push(step);
        }
        self.scope.end_stage(index);
        self.state[index] = State::Done;
        self.order.push(index);
        Ok(())
    }

    fn stage_name(&self, index: usize) -> String {
        self.stages[index].name.clone().unwrap_or_else(|| format!("stage {index}"))
    }
}

/// What a `--from` value names: `Err` with a reason, or an empty reason for an
/// undefined stage.
fn lookup_stage(stages: &[Stage], value: &str) -> Result<FromRef, String> {
    if let Some(s) = find_stage(stages, value) {
        return Ok(FromRef::Stage(s));
    }
    if value == "context" {
        return Ok(FromRef::Context);
    }
    if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit()) {
        return match value.parse::<usize>() {
            Ok(i) if i < stages.len() => Ok(FromRef::Stage(i)),
            _ => Err(format!("there is no stage {value} (the file has {})", stages.len())),
        };
    }
    if value.contains(['/', ':', '@']) {
        return Ok(FromRef::Image(value.to_string()));
    }
    Err(String::new())
}

fn find_stage(stages: &[Stage], name: &str) -> Option<usize> {
    let lower = name.to_lowercase();
    stages.iter().position(|s| s.name.as_deref() == Some(lower.as_str()))
}

fn step_source(kind: &StepKind) -> Option<&FromRef> {
    match kind {
        StepKind::Copy { from, .. } | StepKind::Convert { from, .. } => Some(from),
        StepKind::Quantize(q) => Some(&q.from),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
