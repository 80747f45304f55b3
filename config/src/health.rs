//! ALB target health as a state machine with no I/O: `initial` until the thresholds decide,
//! `healthy` / `unhealthy` by consecutive results, with DescribeTargetHealth's states, reason codes
//! and descriptions.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Initial,
    Healthy,
    Unhealthy,
    /// Deregistered and finishing in-flight requests.
    Draining,
    /// Health checks are disabled for the group.
    Unavailable,
    /// No listener forwards to the group: its targets are neither checked nor routed to.
    Unused,
}

impl State {
    /// As DescribeTargetHealth writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Initial => "initial",
            State::Healthy => "healthy",
            State::Unhealthy => "unhealthy",
            State::Draining => "draining",
            State::Unavailable => "unavailable",
            State::Unused => "unused",
        }
    }

    pub fn from_u8(n: u8) -> State {
        match n {
            1 => State::Healthy,
            2 => State::Unhealthy,
            3 => State::Draining,
            4 => State::Unavailable,
            5 => State::Unused,
            _ => State::Initial,
        }
    }

    pub fn to_u8(self) -> u8 {
        match self {
            State::Initial => 0,
            State::Healthy => 1,
            State::Unhealthy => 2,
            State::Draining => 3,
            State::Unavailable => 4,
            State::Unused => 5,
        }
    }
}

/// The outcome of one health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Success,
    /// The target answered with a status outside the matcher.
    Mismatch(u16),
    /// No answer within the timeout.
    Timeout,
    /// The connection failed (refused, reset, not HTTP).
    Failed,
}

/// A target's health-check bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    pub state: State,
    successes: u32,
    failures: u32,
    last_failure: Option<Check>,
}

impl Default for Tracker {
    fn default() -> Tracker {
        Tracker {
            state: State::Initial,
            successes: 0,
            failures: 0,
            last_failure: None,
        }
    }
}

impl Tracker {
    /// A tracker for a newly registered target: `initial`, or `unavailable` when the group's
    /// health checks are disabled.
    pub fn new(health_checks: bool) -> Tracker {
        let state = if health_checks {
            State::Initial
        } else {
            State::Unavailable
        };
        Tracker {
            state,
            ..Tracker::default()
        }
    }

    /// Records one check; returns true when the state changed.
    pub fn observe(
        &mut self,
        check: Check,
        healthy_threshold: u32,
        unhealthy_threshold: u32,
    ) -> bool {
        let before = self.state;
        if check == Check::Success {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
            if self.state != State::Healthy && self.successes >= healthy_threshold {
                self.state = State::Healthy;
                self.last_failure = None;
            }
        } else {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
            self.last_failure = Some(check);
            if self.state != State::Unhealthy && self.failures >= unhealthy_threshold {
                self.state = State::Unhealthy;
            }
        }
        before != self.state
    }

    /// DescribeTargetHealth's `Reason` and `Description` for the current state.
    pub fn reason(&self) -> Option<(&'static str, String)> {
        match self.state {
            State::Healthy => None,
            State::Initial => Some((
                "Elb.InitialHealthChecking",
                "Initial health checks in progress".into(),
            )),
            State::Draining => Some((
                "Target.DeregistrationInProgress",
                "Target deregistration is in progress".into(),
            )),
            State::Unavailable => Some((
                "Target.HealthCheckDisabled",
                "Health checks are disabled".into(),
            )),
            State::Unused => Some((
                "Target.NotInUse",
                "Target group is not configured to receive traffic from the load balancer".into(),
            )),
            State::Unhealthy => Some(match self.last_failure {
                Some(Check::Mismatch(code)) => (
                    "Target.ResponseCodeMismatch",
                    format!("Health checks failed with these codes: [{code}]"),
                ),
                Some(Check::Timeout) => ("Target.Timeout", "Request timed out".into()),
                _ => ("Target.FailedHealthChecks", "Health checks failed".into()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Check::*;

    #[test]
    fn state_machine() {
        // (checks, healthy threshold, unhealthy threshold, final state, reason code)
        type Case<'a> = (&'a [Check], u32, u32, State, Option<&'a str>);
        let cases: &[Case] = &[
            (&[], 3, 2, State::Initial, Some("Elb.InitialHealthChecking")),
            (
                &[Success, Success],
                3,
                2,
                State::Initial,
                Some("Elb.InitialHealthChecking"),
            ),
            (&[Success, Success, Success], 3, 2, State::Healthy, None),
            (
                &[Failed, Failed],
                3,
                2,
                State::Unhealthy,
                Some("Target.FailedHealthChecks"),
            ),
            (
                &[Timeout, Timeout],
                3,
                2,
                State::Unhealthy,
                Some("Target.Timeout"),
            ),
            (
                &[Mismatch(502), Mismatch(503)],
                3,
                2,
                State::Unhealthy,
                Some("Target.ResponseCodeMismatch"),
            ),
            (
                &[Success, Success, Success, Failed],
                3,
                2,
                State::Healthy,
                None,
            ),
            (
                &[Success, Success, Success, Failed, Success, Failed],
                3,
                2,
                State::Healthy,
                None,
            ),
            (
                &[Success, Success, Success, Failed, Failed],
                3,
                2,
                State::Unhealthy,
                Some("Target.FailedHealthChecks"),
            ),
            (
                &[Failed, Failed, Success, Success],
                3,
                2,
                State::Unhealthy,
                Some("Target.FailedHealthChecks"),
            ),
            (
                &[Failed, Failed, Success, Success, Success],
                3,
                2,
                State::Healthy,
                None,
            ),
            (
                &[Success, Failed, Success, Success, Success],
                3,
                2,
                State::Healthy,
                None,
            ),
        ];
        for (i, (checks, healthy, unhealthy, state, reason)) in cases.iter().enumerate() {
            let mut t = Tracker::default();
            for c in *checks {
                t.observe(*c, *healthy, *unhealthy);
            }
            assert_eq!(t.state, *state, "case {i}");
            assert_eq!(t.reason().map(|r| r.0), *reason, "case {i}");
        }
    }

    #[test]
    fn descriptions_and_codes() {
        let mut t = Tracker::default();
        t.observe(Mismatch(500), 2, 2);
        assert!(!t.observe(Mismatch(404), 2, 2) || t.state == State::Unhealthy);
        assert_eq!(
            t.reason().map(|r| r.1),
            Some("Health checks failed with these codes: [404]".into())
        );
        for s in [
            State::Initial,
            State::Healthy,
            State::Unhealthy,
            State::Draining,
            State::Unavailable,
        ] {
            assert_eq!(State::from_u8(s.to_u8()), s);
        }
    }
}
