//! The calls a request makes to its backends: a list of steps, each one call or a parallel
//! group, run by a sans-IO [`CallPlan`].
//!
//! Semantics, chosen to match the common shapes of handler code (a sequence of awaits, and
//! `allOf` / `errgroup.Wait` for fan-out):
//! - Steps run one after another; a step starts when every call of the previous one ended.
//! - A parallel group ends when *all* its calls have ended, even after one failed (as
//!   `CompletableFuture.allOf` and `errgroup.Wait` do), so no call is ever left running for
//!   the caller to cancel.
//! - A call fails on a 4xx or 5xx status, a timeout or a reset. A failed call marked
//!   [`OnFailure::Fail`] fails the request once its step ends, and no later step starts; one
//!   marked [`OnFailure::Tolerate`] is noted and the plan goes on.
//! - A per-call timeout is the app's own client timeout, separate from the mesh's route
//!   timeouts: the caller arms a timer at [`CallToMake::deadline`] and reports
//!   [`CallOutcome::TimedOut`]; a response reported after the deadline counts as a timeout.
//! - With `idempotency_key`, a call carries a key derived from the request and the call, so a
//!   retried copy of it (a sidecar retry) carries the same key and the server can tell it is
//!   a repeat; distinct requests never share one.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use super::duration;
use super::endpoint::RequestId;
use super::error::{ConfigError, Problem};
use crate::config::model::HttpMethod;
use crate::engine::SimTime;

/// Whether a call's failure fails the request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// The request fails (the default: a dependency is needed unless said otherwise).
    #[default]
    Fail,
    /// The request goes on without it (a best-effort call: recommendations, analytics).
    Tolerate,
}

/// One call as a scenario writes it.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct CallConfig {
    /// Virtual service name, as the app addresses it through its sidecar.
    pub service: String,
    /// HTTP method, upper case (default `GET`).
    #[serde(default = "default_method")]
    pub method: String,
    /// Path, starting with `/`.
    pub path: String,
    /// The app's own timeout for this call; unset, it waits as long as the mesh lets it.
    #[serde(default, deserialize_with = "duration::deserialize_option")]
    pub timeout: Option<Duration>,
    /// Send an idempotency key, stable across retries of this call.
    #[serde(default)]
    pub idempotency_key: bool,
    /// Whether a failure of this call fails the request (default `fail`).
    #[serde(default)]
    pub on_failure: OnFailure,
}

fn default_method() -> String {
    "GET".to_string()
}

/// One step as a scenario writes it: `{ call: {...} }` or `{ parallel: [{...}, ...] }`.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum StepConfig {
    /// One call.
    Call(CallConfig),
    /// Calls made at once; the step ends when all have ended.
    Parallel(Vec<CallConfig>),
}

/// A call or step the model cannot run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No virtual service named.
    #[error("a call must name a virtual service")]
    EmptyService,
    /// Not an HTTP method App Mesh knows.
    #[error(
        "unknown method \"{0}\"; use GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE or PATCH"
    )]
    Method(String),
    /// A path not starting with `/`.
    #[error("path \"{0}\" must start with /")]
    Path(String),
    /// A zero timeout would fail every call; leave it unset for none.
    #[error("a call timeout must be above zero (leave it unset for no timeout)")]
    ZeroTimeout,
    /// `parallel: []`.
    #[error("a parallel group needs at least one call")]
    EmptyGroup,
}

impl CallError {
    /// The field at fault, relative to the call (empty for a group).
    pub fn field(&self) -> &'static str {
        match self {
            CallError::EmptyService => "service",
            CallError::Method(_) => "method",
            CallError::Path(_) => "path",
            CallError::ZeroTimeout => "timeout",
            CallError::EmptyGroup => "",
        }
    }
}

const METHODS: [HttpMethod; 9] = [
    HttpMethod::Get,
    HttpMethod::Head,
    HttpMethod::Post,
    HttpMethod::Put,
    HttpMethod::Delete,
    HttpMethod::Connect,
    HttpMethod::Options,
    HttpMethod::Trace,
    HttpMethod::Patch,
];

impl CallConfig {
    /// Validates the call; every problem is reported.
    pub fn build(&self) -> Result<Call, Vec<CallError>> {
        let mut errors = Vec::new();
        if self.service.is_empty() {
            errors.push(CallError::EmptyService);
        }
        let method = METHODS.into_iter().find(|m| m.as_str() == self.method);
        if method.is_none() {
            errors.push(CallError::Method(self.method.clone()));
        }
        if !self.path.starts_with('/') {
            errors.push(CallError::Path(self.path.clone()));
        }
        if self.timeout == Some(Duration::ZERO) {
            errors.push(CallError::ZeroTimeout);
        }
        match method {
            Some(method) if errors.is_empty() => Ok(Call {
                service: self.service.as_str().into(),
                method,
                path: self.path.as_str().into(),
                timeout: self.timeout,
                idempotency_key: self.idempotency_key,
                on_failure: self.on_failure,
            }),
            _ => Err(errors),
        }
    }
}

/// A validated call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// Virtual service name.
    pub service: Arc<str>,
    /// Method.
    pub method: HttpMethod,
    /// Path.
    pub path: Arc<str>,
    /// The app's own timeout.
    pub timeout: Option<Duration>,
    /// Whether the call carries an idempotency key.
    pub idempotency_key: bool,
    /// Whether its failure fails the request.
    pub on_failure: OnFailure,
}

/// A step, for building [`Calls`] in code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// One call.
    One(Call),
    /// Calls made at once.
    Parallel(Vec<Call>),
}

/// Numbers a call within its [`Calls`]: 0, 1, … in the order written, across steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallIndex(pub usize);

impl fmt::Display for CallIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call {}", self.0)
    }
}

/// The validated calls of an endpoint, shared by every request's [`CallPlan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Calls {
    inner: Arc<Inner>,
}

#[derive(Debug, PartialEq, Eq)]
struct Inner {
    /// Every call, numbered by [`CallIndex`].
    calls: Vec<Call>,
    /// Each step's range of `calls`; never empty.
    steps: Vec<Range<usize>>,
}

impl Calls {
    /// No calls: a plan that is done as soon as it starts.
    pub fn none() -> Calls {
        Calls::new(Vec::new())
    }

    /// Calls from steps built in code; an empty parallel group is dropped.
    pub fn new(steps: Vec<Step>) -> Calls {
        let mut calls = Vec::new();
        let mut ranges = Vec::new();
        for step in steps {
            let start = calls.len();
            match step {
                Step::One(c) => calls.push(c),
                Step::Parallel(cs) => calls.extend(cs),
            }
            if calls.len() > start {
                ranges.push(start..calls.len());
            }
        }
        Calls {
            inner: Arc::new(Inner {
                calls,
                steps: ranges,
            }),
        }
    }

    /// Validates configured steps; every problem is reported with its path
    /// (`[1].parallel[0].timeout`).
    pub fn build(steps: &[StepConfig]) -> Result<Calls, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut built = Vec::new();
        let call = |c: &CallConfig, path: String, errors: &mut Vec<ConfigError>| {
            c.build()
                .map_err(|es| {
                    errors.extend(
                        es.into_iter()
                            .map(|e| ConfigError::new(e.field(), Problem::Call(e)).under(&path)),
                    );
                })
                .ok()
        };
        for (i, step) in steps.iter().enumerate() {
            match step {
                StepConfig::Call(c) => {
                    if let Some(c) = call(c, format!("[{i}].call"), &mut errors) {
                        built.push(Step::One(c));
                    }
                }
                StepConfig::Parallel(cs) if cs.is_empty() => errors.push(
                    ConfigError::new("", Problem::Call(CallError::EmptyGroup))
                        .under(&format!("[{i}].parallel")),
                ),
                StepConfig::Parallel(cs) => {
                    let group: Vec<Call> = cs
                        .iter()
                        .enumerate()
                        .filter_map(|(j, c)| call(c, format!("[{i}].parallel[{j}]"), &mut errors))
                        .collect();
                    built.push(Step::Parallel(group));
                }
            }
        }
        if errors.is_empty() {
            Ok(Calls::new(built))
        } else {
            Err(errors)
        }
    }

    /// Whether there are no calls.
    pub fn is_empty(&self) -> bool {
        self.inner.steps.is_empty()
    }

    /// The steps, each as the calls it makes at once.
    pub fn steps(&self) -> impl Iterator<Item = &[Call]> {
        self.inner
            .steps
            .iter()
            .map(|r| &self.inner.calls[r.clone()])
    }

    /// A call by index.
    pub fn call(&self, index: CallIndex) -> Option<&Call> {
        self.inner.calls.get(index.0)
    }

    /// A fresh plan for one request.
    pub fn plan(&self, request: RequestId) -> CallPlan {
        CallPlan {
            calls: self.clone(),
            request,
            state: State::NotStarted,
            tolerated: Vec::new(),
        }
    }
}

/// A call to send now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallToMake {
    /// Report its outcome under this index.
    pub index: CallIndex,
    /// What to call.
    pub call: Call,
    /// When the app gives up on it (`now + timeout`), if it has a timeout.
    pub deadline: Option<SimTime>,
    /// The idempotency key to send, if the call asks for one: `req-<id>/<call index>`.
    pub idempotency_key: Option<String>,
}

/// How a call ended, as the caller observed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    /// A response with this status (a gRPC failure is reported as the HTTP status its
    /// `grpc-status` maps to).
    Status(u16),
    /// The call's own timeout fired.
    TimedOut,
    /// No response: the stream was reset or the connection failed.
    Reset,
}

impl CallOutcome {
    /// Whether the call failed: a 4xx or 5xx status, a timeout or a reset.
    pub fn is_failure(self) -> bool {
        match self {
            CallOutcome::Status(s) => s >= 400,
            CallOutcome::TimedOut | CallOutcome::Reset => true,
        }
    }
}

impl fmt::Display for CallOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallOutcome::Status(s) => write!(f, "status {s}"),
            CallOutcome::TimedOut => f.write_str("timed out"),
            CallOutcome::Reset => f.write_str("reset"),
        }
    }
}

/// A failed call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallFailure {
    /// Which call.
    pub index: CallIndex,
    /// Its virtual service.
    pub service: Arc<str>,
    /// How it failed.
    pub outcome: CallOutcome,
}

impl fmt::Display for CallFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} to {}: {}", self.index, self.service, self.outcome)
    }
}

/// What the caller does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanNext {
    /// Send these calls now.
    MoreCalls(Vec<CallToMake>),
    /// Wait for calls still running. Also the answer to a report the plan does not expect
    /// (an unknown or already reported call, a report after the end): it is ignored.
    Waiting,
    /// The plan is over (returned once); `failed` is the required call that failed it.
    Done {
        /// The first required call to fail, in the order of reports.
        failed: Option<CallFailure>,
    },
}

/// One request's progress through its calls.
#[derive(Clone, Debug, PartialEq)]
pub struct CallPlan {
    calls: Calls,
    request: RequestId,
    state: State,
    tolerated: Vec<CallFailure>,
}

#[derive(Clone, Debug, PartialEq)]
enum State {
    NotStarted,
    Running {
        step: usize,
        /// Calls of the step still running → their deadline.
        outstanding: BTreeMap<usize, Option<SimTime>>,
        failure: Option<CallFailure>,
    },
    Done,
}

impl CallPlan {
    /// The request the plan belongs to.
    pub fn request(&self) -> RequestId {
        self.request
    }

    /// Failed calls that were tolerated, in the order reported.
    pub fn tolerated(&self) -> &[CallFailure] {
        &self.tolerated
    }

    /// Whether the plan is over.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Starts the plan at `now`: the first step's calls, or `Done` if there are none. A
    /// second start is ignored (`Waiting`).
    pub fn start(&mut self, now: SimTime) -> PlanNext {
        if self.state != State::NotStarted {
            return PlanNext::Waiting;
        }
        self.begin_step(0, now)
    }

    /// Call `index` ended at `now` with `outcome`.
    pub fn on_call_done(
        &mut self,
        now: SimTime,
        index: CallIndex,
        outcome: CallOutcome,
    ) -> PlanNext {
        let State::Running {
            step,
            outstanding,
            failure,
        } = &mut self.state
        else {
            return PlanNext::Waiting;
        };
        let Some(deadline) = outstanding.remove(&index.0) else {
            return PlanNext::Waiting;
        };
        let outcome = match deadline {
            Some(d) if now > d && !outcome.is_failure() => CallOutcome::TimedOut,
            _ => outcome,
        };
        if outcome.is_failure() {
            let call = &self.calls.inner.calls[index.0];
            let f = CallFailure {
                index,
                service: call.service.clone(),
                outcome,
            };
            match call.on_failure {
                OnFailure::Fail if failure.is_none() => *failure = Some(f),
                OnFailure::Fail => {}
                OnFailure::Tolerate => self.tolerated.push(f),
            }
        }
        if !outstanding.is_empty() {
            return PlanNext::Waiting;
        }
        if let Some(f) = failure.take() {
            self.state = State::Done;
            return PlanNext::Done { failed: Some(f) };
        }
        let next = *step + 1;
        self.begin_step(next, now)
    }

    fn begin_step(&mut self, step: usize, now: SimTime) -> PlanNext {
        let Some(range) = self.calls.inner.steps.get(step).cloned() else {
            self.state = State::Done;
            return PlanNext::Done { failed: None };
        };
        let mut outstanding = BTreeMap::new();
        let to_make = range
            .map(|i| {
                let call = self.calls.inner.calls[i].clone();
                let deadline = call.timeout.map(|t| now + t);
                outstanding.insert(i, deadline);
                CallToMake {
                    index: CallIndex(i),
                    idempotency_key: call
                        .idempotency_key
                        .then(|| format!("{}/{i}", self.request)),
                    call,
                    deadline,
                }
            })
            .collect();
        self.state = State::Running {
            step,
            outstanding,
            failure: None,
        };
        PlanNext::MoreCalls(to_make)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> SimTime {
        SimTime::from_millis(n)
    }

    fn call(service: &str) -> Call {
        Call {
            service: service.into(),
            method: HttpMethod::Get,
            path: "/".into(),
            timeout: None,
            idempotency_key: false,
            on_failure: OnFailure::Fail,
        }
    }

    fn tolerated(service: &str) -> Call {
        Call {
            on_failure: OnFailure::Tolerate,
            ..call(service)
        }
    }

    /// The indices of the calls to make, or a panic.
    fn indices(next: PlanNext) -> Vec<usize> {
        match next {
            PlanNext::MoreCalls(cs) => cs.into_iter().map(|c| c.index.0).collect(),
            other => panic!("expected calls, got {other:?}"),
        }
    }

    const OK: CallOutcome = CallOutcome::Status(200);

    #[test]
    fn sequential_steps_run_one_after_another() {
        // Step 2 starts only when step 1's call has ended, and not before.
        let calls = Calls::new(vec![Step::One(call("a")), Step::One(call("b"))]);
        let mut p = calls.plan(RequestId(1));
        assert_eq!(indices(p.start(ms(0))), [0]);
        assert_eq!(indices(p.on_call_done(ms(5), CallIndex(0), OK)), [1]);
        assert_eq!(
            p.on_call_done(ms(9), CallIndex(1), OK),
            PlanNext::Done { failed: None }
        );
        assert!(p.is_done());
    }

    #[test]
    fn a_parallel_group_waits_for_all_its_calls() {
        // All three are made at once; the next step waits for the last of them, in any order.
        let calls = Calls::new(vec![
            Step::Parallel(vec![call("a"), call("b"), call("c")]),
            Step::One(call("d")),
        ]);
        let mut p = calls.plan(RequestId(1));
        assert_eq!(indices(p.start(ms(0))), [0, 1, 2]);
        assert_eq!(p.on_call_done(ms(3), CallIndex(2), OK), PlanNext::Waiting);
        assert_eq!(p.on_call_done(ms(4), CallIndex(0), OK), PlanNext::Waiting);
        assert_eq!(indices(p.on_call_done(ms(8), CallIndex(1), OK)), [3]);
        assert_eq!(
            p.on_call_done(ms(9), CallIndex(3), OK),
            PlanNext::Done { failed: None }
        );
    }

    #[test]
    fn a_required_failure_stops_the_plan_after_its_step() {
        // The failing call's group still ends normally; the next step never starts.
        let calls = Calls::new(vec![
            Step::Parallel(vec![call("a"), call("b")]),
            Step::One(call("c")),
        ]);
        let mut p = calls.plan(RequestId(1));
        indices(p.start(ms(0)));
        assert_eq!(
            p.on_call_done(ms(1), CallIndex(0), CallOutcome::Status(503)),
            PlanNext::Waiting,
            "b is still running"
        );
        let done = p.on_call_done(ms(2), CallIndex(1), CallOutcome::Reset);
        assert_eq!(
            done,
            PlanNext::Done {
                failed: Some(CallFailure {
                    index: CallIndex(0),
                    service: "a".into(),
                    outcome: CallOutcome::Status(503)
                })
            },
            "the first reported failure"
        );
        // 4xx fails too: 409 from an out-of-stock reservation fails the order.
        let mut q =
            Calls::new(vec![Step::One(call("inventory")), Step::One(call("x"))]).plan(RequestId(2));
        indices(q.start(ms(0)));
        assert!(matches!(
            q.on_call_done(ms(1), CallIndex(0), CallOutcome::Status(409)),
            PlanNext::Done { failed: Some(_) }
        ));
    }

    #[test]
    fn tolerated_failures_let_the_plan_go_on() {
        // A best-effort call that times out is noted, and the next step still runs.
        let calls = Calls::new(vec![
            Step::Parallel(vec![tolerated("recs"), call("a")]),
            Step::One(call("b")),
        ]);
        let mut p = calls.plan(RequestId(1));
        indices(p.start(ms(0)));
        assert_eq!(
            p.on_call_done(ms(1), CallIndex(0), CallOutcome::TimedOut),
            PlanNext::Waiting
        );
        assert_eq!(indices(p.on_call_done(ms(2), CallIndex(1), OK)), [2]);
        assert_eq!(
            p.on_call_done(ms(3), CallIndex(2), CallOutcome::Status(204)),
            PlanNext::Done { failed: None }
        );
        assert_eq!(p.tolerated().len(), 1);
        assert_eq!(p.tolerated()[0].to_string(), "call 0 to recs: timed out");
    }

    #[test]
    fn deadlines_come_from_the_start_of_the_call() {
        // deadline = now + timeout; a success reported after it is a timeout.
        let slow = Call {
            timeout: Some(Duration::from_millis(100)),
            ..call("a")
        };
        let calls = Calls::new(vec![Step::One(call("first")), Step::One(slow)]);
        let mut p = calls.plan(RequestId(1));
        assert_eq!(
            p.start(ms(0)),
            PlanNext::MoreCalls(vec![CallToMake {
                index: CallIndex(0),
                call: call("first"),
                deadline: None,
                idempotency_key: None
            }])
        );
        let PlanNext::MoreCalls(cs) = p.on_call_done(ms(50), CallIndex(0), OK) else {
            panic!("second step")
        };
        assert_eq!(cs[0].deadline, Some(ms(150)));
        let late = p.clone().on_call_done(ms(151), CallIndex(1), OK);
        assert!(matches!(
            late,
            PlanNext::Done {
                failed: Some(CallFailure {
                    outcome: CallOutcome::TimedOut,
                    ..
                })
            }
        ));
        let on_time = p.on_call_done(ms(150), CallIndex(1), OK);
        assert_eq!(on_time, PlanNext::Done { failed: None });
    }

    #[test]
    fn unexpected_reports_are_ignored_and_done_comes_once() {
        let calls = Calls::new(vec![Step::Parallel(vec![call("a"), call("b")])]);
        let mut p = calls.plan(RequestId(1));
        assert_eq!(
            p.on_call_done(ms(0), CallIndex(0), OK),
            PlanNext::Waiting,
            "not started"
        );
        indices(p.start(ms(0)));
        assert_eq!(p.start(ms(0)), PlanNext::Waiting, "started twice");
        assert_eq!(p.on_call_done(ms(1), CallIndex(0), OK), PlanNext::Waiting);
        assert_eq!(
            p.on_call_done(ms(1), CallIndex(0), CallOutcome::Status(500)),
            PlanNext::Waiting,
            "reported twice: ignored, so it cannot fail the request"
        );
        assert_eq!(p.on_call_done(ms(1), CallIndex(7), OK), PlanNext::Waiting);
        assert_eq!(
            p.on_call_done(ms(2), CallIndex(1), OK),
            PlanNext::Done { failed: None }
        );
        assert_eq!(p.on_call_done(ms(3), CallIndex(1), OK), PlanNext::Waiting);
        // No calls: done at once.
        assert_eq!(
            Calls::none().plan(RequestId(1)).start(ms(0)),
            PlanNext::Done { failed: None }
        );
    }

    #[test]
    fn idempotency_keys_are_stable_per_request_and_call() {
        // Only flagged calls carry one; it names the request and the call.
        let keyed = Call {
            idempotency_key: true,
            ..call("inventory")
        };
        let calls = Calls::new(vec![Step::Parallel(vec![call("a"), keyed])]);
        let key = |request| {
            let PlanNext::MoreCalls(cs) = calls.plan(RequestId(request)).start(ms(0)) else {
                panic!("calls")
            };
            (cs[0].idempotency_key.clone(), cs[1].idempotency_key.clone())
        };
        assert_eq!(key(42), (None, Some("req-42/1".to_string())));
        assert_eq!(key(42), key(42));
        assert_ne!(key(42), key(43));
    }

    #[test]
    fn config_deserialises_and_validates_every_call() {
        let steps: Vec<StepConfig> = serde_json::from_str(
            r#"[
                {"call": {"service": "inventory", "method": "POST", "path": "/reserve",
                          "timeout": "250ms", "idempotency_key": true}},
                {"parallel": [{"service": "a", "path": "/x"},
                              {"service": "b", "path": "/y", "on_failure": "tolerate"}]}
            ]"#,
        )
        .expect("deserialises");
        let calls = Calls::build(&steps).expect("valid");
        let shape: Vec<usize> = calls.steps().map(<[Call]>::len).collect();
        assert_eq!(shape, [1, 2]);
        let reserve = calls.call(CallIndex(0)).expect("call 0");
        assert_eq!(
            (reserve.method, reserve.timeout, reserve.idempotency_key),
            (HttpMethod::Post, Some(Duration::from_millis(250)), true)
        );
        let b = calls.call(CallIndex(2)).expect("call 2");
        assert_eq!(
            (b.method, b.on_failure),
            (HttpMethod::Get, OnFailure::Tolerate)
        );

        let bad: Vec<StepConfig> = serde_json::from_str(
            r#"[
                {"call": {"service": "", "method": "get", "path": "x", "timeout": "0s"}},
                {"parallel": []},
                {"parallel": [{"service": "ok", "path": "/"}, {"service": "b", "path": "y"}]}
            ]"#,
        )
        .expect("deserialises");
        let errors = Calls::build(&bad).expect_err("invalid");
        let got: Vec<(String, CallError)> = errors
            .into_iter()
            .map(|e| match e.problem {
                Problem::Call(c) => (e.path, c),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            [
                ("[0].call.service".into(), CallError::EmptyService),
                ("[0].call.method".into(), CallError::Method("get".into())),
                ("[0].call.path".into(), CallError::Path("x".into())),
                ("[0].call.timeout".into(), CallError::ZeroTimeout),
                ("[1].parallel".into(), CallError::EmptyGroup),
                ("[2].parallel[1].path".into(), CallError::Path("y".into())),
            ]
        );
    }

    #[test]
    fn config_refuses_unknown_fields_and_shapes() {
        let parse = |json: &str| {
            serde_json::from_str::<Vec<StepConfig>>(json)
                .expect_err(json)
                .to_string()
        };
        let e = parse(r#"[{"call": {"service": "a", "path": "/", "retries": 3}}]"#);
        assert!(e.contains("unknown field `retries`"), "{e}");
        let e = parse(r#"[{"sequence": []}]"#);
        assert!(e.contains("unknown variant `sequence`"), "{e}");
        let e = parse(r#"[{"call": {"service": "a", "path": "/", "on_failure": "ignore"}}]"#);
        assert!(e.contains("unknown variant `ignore`"), "{e}");
        let e = parse(r#"[{"call": {"service": "a", "path": "/", "timeout": "2"}}]"#);
        assert!(e.contains("no unit"), "{e}");
    }
}
