//! Escalation policies: the shipped file, every kind of bad policy at its line, and the pure
//! chain walked with simulated time (silence, passes, acceptance, stale timers, a restart in
//! the middle, office hours), plus properties over random policies and events.

use std::path::Path;
use std::time::Duration;

use proptest::prelude::*;
use teduh::directory::provider::{Hours, Slot, TimeZone};
use teduh::escalation::policy::{
    Chain, ChainAction, ChainEvent, ChainStatus, Level, MAX_REPEAT, Policies, Policy, PolicyError,
    PolicyErrorKind, Role, SHIPPED, Step, Target, Wake, load_policies, next_open_ms, on_event,
    parse_policies, resume, start,
};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
/// Monday 2026-11-23 00:00 UTC (08:00 WITA).
const MONDAY: i64 = 1_795_392_000_000;
const T0: i64 = MONDAY + 2 * HOUR;

fn shipped() -> Policies {
    Policies::shipped().unwrap_or_else(|e| panic!("the shipped policies must parse: {e:#?}"))
}

fn policy<'a>(policies: &'a Policies, name: &str) -> &'a Policy {
    policies.get(name).unwrap_or_else(|| panic!("policy `{name}` missing"))
}

fn problems(text: &str) -> Vec<PolicyError> {
    match parse_policies(text) {
        Ok(p) => panic!("expected problems, but {} policies parsed:\n{text}", p.len()),
        Err(errors) => errors,
    }
}

/// Seven lines defining valid `urgent` and `normal`; a test policy starts at line 8.
const REQUIRED: &str = "policies:
  urgent:
    steps:
      - notify: primary
  normal:
    steps:
      - notify: primary
";

/// Exactly one problem, of `kind`, at `line`, whose message mentions every one of `mentions`.
fn assert_one_problem(extra: &str, line: u64, kind: PolicyErrorKind, mentions: &[&str]) {
    let text = format!("{REQUIRED}{extra}");
    let errors = problems(&text);
    assert_eq!(errors.len(), 1, "expected one problem, got {errors:#?}\n{text}");
    let e = &errors[0];
    assert_eq!((e.line, e.kind), (line, kind), "wrong line or kind for {e:?}\n{text}");
    for m in mentions {
        assert!(e.message.contains(m), "message {:?} does not mention {m:?}", e.message);
    }
}

fn notify(step_seq: u64, provider: Level, role: Role) -> ChainAction {
    ChainAction::Notify { step_seq, provider, target: Target::Role(role) }
}

fn notify_provider(step_seq: u64, level: Level) -> ChainAction {
    ChainAction::Notify { step_seq, provider: level, target: Target::ProviderLevel(level) }
}

fn timer(step_seq: u64, at_ms: i64) -> ChainAction {
    ChainAction::SetTimer { step_seq, at_ms }
}

fn timeout(step_seq: u64) -> ChainEvent {
    ChainEvent::Timeout { step_seq }
}

fn pass(counselor: &str, step_seq: u64) -> ChainEvent {
    ChainEvent::Pass { counselor: counselor.into(), step_seq }
}

fn accepted(counselor: &str) -> ChainEvent {
    ChainEvent::Accepted { counselor: counselor.into() }
}

/// Lets every timer run out in turn, nobody answering: each notification with its time, and
/// the final chain. `open` gives a provider level's hours for office-hours waits.
fn walk_in_silence(
    policy: &Policy,
    t0: i64,
    open: &dyn Fn(Level) -> Hours,
) -> (Vec<(i64, ChainAction)>, Chain) {
    let (mut chain, mut actions) = start(policy, t0);
    let mut now = t0;
    let mut log: Vec<(i64, ChainAction)> = Vec::new();
    for _ in 0..1000 {
        log.extend(actions.iter().cloned().map(|a| (now, a)));
        let Some(last) = actions.last() else { break };
        now = match *last {
            ChainAction::SetTimer { at_ms, .. } => at_ms,
            ChainAction::AwaitOfficeHours { provider, .. } => next_open_ms(&open(provider), now),
            _ => break,
        };
        (chain, actions) = on_event(&chain, policy, timeout(chain.step_seq()), now);
    }
    (log, chain)
}

fn always_open(_: Level) -> Hours {
    Hours { tz: TimeZone::Wib, always: true, slots: Vec::new() }
}

/// Notifications of a log as (minutes after `t0`, provider, target).
fn notifications(log: &[(i64, ChainAction)], t0: i64) -> Vec<(i64, Level, Target)> {
    log.iter()
        .filter_map(|(at, a)| match a {
            ChainAction::Notify { provider, target, .. } => Some(((at - t0) / MIN, *provider, *target)),
            _ => None,
        })
        .collect()
}

// ---- The shipped file ---------------------------------------------------------------------------

#[test]
fn the_shipped_file_parses_and_defines_urgent_and_normal() {
    let policies = shipped();
    assert_eq!(policies.names().collect::<Vec<_>>(), ["normal", "urgent"]);
    let from_disk = load_policies(Path::new("escalation/policies.yaml")).expect("loads from disk");
    assert_eq!(from_disk, policies, "the embedded copy is the file");

    let urgent = policy(&policies, "urgent");
    assert!(!urgent.office_hours_only(), "urgent cases escalate day and night");
    assert_eq!(
        urgent.steps(),
        [
            Step::Notify(Role::Primary),
            Step::Wait(Duration::from_secs(120)),
            Step::Notify(Role::Backup),
            Step::Wait(Duration::from_secs(120)),
            Step::Notify(Role::Supervisor),
            Step::Wait(Duration::from_secs(120)),
            Step::NotifyProvider(Level::Province),
            Step::Wait(Duration::from_secs(180)),
            Step::NotifyProvider(Level::National),
            Step::Wait(Duration::from_secs(300)),
            Step::Repeat { times: 2 },
        ]
    );
    assert_eq!(urgent.max_notifications(), 15);

    let normal = policy(&policies, "normal");
    assert!(normal.office_hours_only(), "normal cases are office-hours consultations");
    assert_eq!(normal.steps().last(), Some(&Step::NotifyProvider(Level::National)), "SAPA 129 is last");
    assert_eq!(normal.max_notifications(), 7);
    assert!(normal.description().is_some_and(|d| d.contains("Office-hours")));
}

#[test]
fn a_file_may_add_policies_of_its_own() {
    let policies = load_policies(Path::new("tests/fixtures/policy/custom.yaml")).expect("valid");
    assert_eq!(policies.len(), 3);
    let high = policy(&policies, "high");
    assert_eq!(high.description(), Some("Serve within hours."));
    // Two notifications repeated five more times, then two more.
    assert_eq!(high.max_notifications(), 2 * 6 + 2);
    assert_eq!(policy(&policies, "urgent").steps()[1], Step::Wait(Duration::from_secs(90)));
    assert!(policies.get("low").is_none());
}

// ---- Bad policies, one kind each, at the exact line ---------------------------------------------

#[test]
fn an_unknown_step_is_reported_at_its_line() {
    let extra = "  test:\n    steps:\n      - notify: primary\n      - notfy: backup\n";
    assert_one_problem(extra, 11, PolicyErrorKind::UnknownStep, &["`notfy`", "notify_provider"]);
}

#[test]
fn a_bare_step_name_is_reported_at_its_line() {
    let extra = "  test:\n    steps:\n      - notify\n";
    let errors = problems(&format!("{REQUIRED}{extra}"));
    assert_eq!(
        errors.iter().map(|e| (e.line, e.kind)).collect::<Vec<_>>(),
        [(8, PolicyErrorKind::NeverNotifies), (10, PolicyErrorKind::UnknownStep)]
    );
    assert!(errors[1].message.contains("needs a value"), "{:?}", errors[1]);
}

#[test]
fn two_keys_in_one_step_are_reported_at_the_second() {
    let extra = "  test:\n    steps:\n      - notify: primary\n        wait: 2m\n";
    assert_one_problem(extra, 11, PolicyErrorKind::MalformedStep, &["`wait`", "- "]);
}

#[test]
fn an_unknown_role_is_reported_at_its_line() {
    let extra = "  test:\n    steps:\n      - wait: 1m\n      - notify: boss\n";
    assert_one_problem(extra, 11, PolicyErrorKind::UnknownRole, &["`boss`", "all_on_call"]);
}

#[test]
fn an_unknown_provider_level_is_reported_at_its_line() {
    let extra = "  test:\n    steps:\n      - notify_provider: regency\n";
    assert_one_problem(extra, 10, PolicyErrorKind::UnknownProvider, &["`regency`", "province", "national"]);
}

#[test]
fn bad_durations_are_reported_at_their_lines() {
    let extra = "  test:\n    steps:\n      - notify: primary\n      - wait: 2\n      - notify: backup\n";
    assert_one_problem(extra, 11, PolicyErrorKind::BadDuration, &["`2`", "90s"]);
    let extra = "  test:\n    steps:\n      - notify: primary\n      - wait: soon\n      - notify: backup\n";
    assert_one_problem(extra, 11, PolicyErrorKind::BadDuration, &["`soon`"]);
    let extra = "  test:\n    steps:\n      - notify: primary\n      - wait: 0s\n      - notify: backup\n";
    assert_one_problem(extra, 11, PolicyErrorKind::BadDuration, &["0s"]);
    let extra = "  test:\n    steps:\n      - notify: primary\n      - wait: 8d\n      - notify: backup\n";
    assert_one_problem(extra, 11, PolicyErrorKind::BadDuration, &["7 days"]);
}

#[test]
fn a_repeat_over_five_is_reported_at_its_times() {
    let extra = "  test:\n    steps:\n      - notify: primary\n      - wait: 1m\n      - repeat:\n          times: 6\n";
    assert_one_problem(extra, 13, PolicyErrorKind::BadRepeat, &["1 to 5", "6"]);
    let extra =
        "  test:\n    steps:\n      - notify: primary\n      - wait: 1m\n      - repeat: { times: 0 }\n";
    assert_one_problem(extra, 12, PolicyErrorKind::BadRepeat, &["1 to 5", "0"]);
}

#[test]
fn a_repeat_with_nothing_before_it_is_reported() {
    let extra = "  test:\n    steps:\n      - repeat: { times: 2 }\n      - notify: primary\n";
    assert_one_problem(extra, 10, PolicyErrorKind::RepeatWithoutSteps, &["needs steps before it"]);
    let extra = "  test:\n    steps:\n      - notify: primary\n      - wait: 1m\n      - repeat: { times: 2 }\n      - repeat: { times: 1 }\n      - notify: backup\n";
    assert_one_problem(extra, 13, PolicyErrorKind::RepeatWithoutSteps, &["needs steps before it"]);
}

#[test]
fn a_repeat_of_steps_that_notify_nobody_is_reported() {
    let extra = "  test:\n    steps:\n      - notify: primary\n      - wait: 1m\n      - repeat: { times: 1 }\n      - wait: 5m\n      - repeat: { times: 2 }\n      - notify: backup\n";
    assert_one_problem(extra, 14, PolicyErrorKind::RepeatWithoutSteps, &["notify nobody"]);
}

#[test]
fn a_repeat_without_a_wait_is_reported() {
    let extra = "  test:\n    steps:\n      - notify: primary\n      - repeat: { times: 3 }\n";
    assert_one_problem(extra, 11, PolicyErrorKind::BadRepeat, &["no wait", "at once"]);
}

#[test]
fn a_policy_that_never_notifies_is_reported_at_its_name() {
    let extra = "  test:\n    steps:\n      - wait: 5m\n      - wait: 10m\n";
    let errors = problems(&format!("{REQUIRED}{extra}"));
    assert_eq!(
        errors.iter().map(|e| (e.line, e.kind)).collect::<Vec<_>>(),
        [(8, PolicyErrorKind::NeverNotifies), (11, PolicyErrorKind::TrailingWait)]
    );
    assert_one_problem("  test:\n    steps: []\n", 8, PolicyErrorKind::NeverNotifies, &["`test`"]);
}

#[test]
fn a_wait_as_the_last_step_is_reported_at_its_line() {
    let extra = "  test:\n    steps:\n      - notify: primary\n      - wait: 2m\n";
    assert_one_problem(extra, 11, PolicyErrorKind::TrailingWait, &["last step"]);
}

#[test]
fn missing_urgent_or_normal_is_reported_at_the_policies_key() {
    let text = "# no urgent here\npolicies:\n  normal:\n    steps:\n      - notify: primary\n";
    let errors = problems(text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!((errors[0].line, errors[0].kind), (2, PolicyErrorKind::MissingPolicy));
    assert!(errors[0].message.contains("`urgent`"));

    let text = "policies:\n  urgent:\n    steps:\n      - notify: primary\n";
    let errors = problems(text);
    assert_eq!(
        errors.iter().map(|e| (e.line, e.kind)).collect::<Vec<_>>(),
        [(1, PolicyErrorKind::MissingPolicy)]
    );
    assert!(errors[0].message.contains("`normal`"));

    let errors = problems("policies: {}\n");
    assert_eq!(errors.len(), 2, "both are missing: {errors:#?}");
}

#[test]
fn a_duplicate_policy_is_reported_at_the_second_definition() {
    let extra = "  urgent:\n    steps:\n      - notify: backup\n";
    assert_one_problem(extra, 8, PolicyErrorKind::DuplicatePolicy, &["`urgent`", "line 2"]);
}

#[test]
fn yaml_shape_errors_stop_the_check_with_a_line() {
    let errors = problems("policies:\n  urgent:\n    stepz: []\n");
    assert_eq!((errors[0].line, errors[0].kind), (3, PolicyErrorKind::Yaml), "{errors:#?}");
    assert!(errors[0].message.contains("stepz"), "{errors:#?}");
    let errors = problems("policies:\n  urgent:\n    steps:\n      - notify: [a, b]\n");
    assert_eq!((errors[0].line, errors[0].kind), (4, PolicyErrorKind::Yaml), "{errors:#?}");
    let errors = problems("steps:\n  - notify: primary\n");
    assert!(errors.iter().any(|e| e.line == 1 && e.message.contains("`steps`")), "{errors:#?}");
}

#[test]
fn every_problem_in_a_file_is_reported_at_once_in_line_order() {
    let errors = load_policies(Path::new("tests/fixtures/policy/several_problems.yaml"))
        .expect_err("the fixture has problems");
    use PolicyErrorKind::*;
    assert_eq!(
        errors.iter().map(|e| (e.line, e.kind)).collect::<Vec<_>>(),
        [
            (6, BadDuration),
            (7, UnknownRole),
            (8, UnknownProvider),
            (9, UnknownStep),
            (10, BadRepeat),
            (13, RepeatWithoutSteps),
            (15, BadDuration),
            (15, TrailingWait),
            (16, DuplicatePolicy),
            (19, NeverNotifies),
            (21, TrailingWait),
        ]
    );
    assert!(errors.iter().all(|e| e.to_string().starts_with(&format!("line {}: ", e.line))));
    let missing = load_policies(Path::new("tests/fixtures/policy/no_such_file.yaml")).expect_err("no file");
    assert_eq!((missing[0].line, missing[0].kind), (0, Io));
}

// ---- The chain ----------------------------------------------------------------------------------

#[test]
fn the_urgent_chain_climbs_to_sapa_129_on_silence_repeats_and_is_exhausted() {
    let policies = shipped();
    let urgent = policy(&policies, "urgent");

    // Step by step, first round.
    let (chain, actions) = start(urgent, T0);
    assert_eq!(actions, [notify(1, Level::Local, Role::Primary), timer(2, T0 + 2 * MIN)]);
    let (chain, actions) = on_event(&chain, urgent, timeout(2), T0 + 2 * MIN);
    assert_eq!(actions, [notify(3, Level::Local, Role::Backup), timer(4, T0 + 4 * MIN)]);
    let (chain, actions) = on_event(&chain, urgent, timeout(4), T0 + 4 * MIN);
    assert_eq!(actions, [notify(5, Level::Local, Role::Supervisor), timer(6, T0 + 6 * MIN)]);
    let (chain, actions) = on_event(&chain, urgent, timeout(6), T0 + 6 * MIN);
    assert_eq!(actions, [notify_provider(7, Level::Province), timer(8, T0 + 9 * MIN)]);
    assert_eq!(chain.level(), Level::Province);
    let (chain, actions) = on_event(&chain, urgent, timeout(8), T0 + 9 * MIN);
    assert_eq!(actions, [notify_provider(9, Level::National), timer(10, T0 + 14 * MIN)]);
    // The repeat goes back to the case's own provider's primary.
    let (chain, actions) = on_event(&chain, urgent, timeout(10), T0 + 14 * MIN);
    assert_eq!(actions, [notify(11, Level::Local, Role::Primary), timer(12, T0 + 16 * MIN)]);
    assert_eq!((chain.level(), chain.round(), chain.step()), (Level::Local, 1, 1));

    // The whole walk: three rounds of five, then exhausted as the last SAPA 129 notice goes out.
    let (log, end) = walk_in_silence(urgent, T0, &always_open);
    let round = |offset: i64| {
        vec![
            (offset, Level::Local, Target::Role(Role::Primary)),
            (offset + 2, Level::Local, Target::Role(Role::Backup)),
            (offset + 4, Level::Local, Target::Role(Role::Supervisor)),
            (offset + 6, Level::Province, Target::ProviderLevel(Level::Province)),
            (offset + 9, Level::National, Target::ProviderLevel(Level::National)),
        ]
    };
    let expected: Vec<_> = [0, 14, 28].into_iter().flat_map(round).collect();
    assert_eq!(notifications(&log, T0), expected);
    assert_eq!(log.last(), Some(&(T0 + 37 * MIN, ChainAction::Exhausted)));
    assert_eq!(log.iter().filter(|(_, a)| *a == ChainAction::Exhausted).count(), 1);
    assert_eq!(end.status(), &ChainStatus::Exhausted);
    assert_eq!(end.notified(), urgent.max_notifications());
    assert!(resume(&end).is_empty(), "an ended chain arms nothing");
    let (after, actions) = on_event(&end, urgent, timeout(end.step_seq()), T0 + HOUR);
    assert!(actions.is_empty() && after == end, "an exhausted chain ignores timers");
}

#[test]
fn a_pass_moves_to_the_next_notification_at_once() {
    let policies = shipped();
    let urgent = policy(&policies, "urgent");
    let (chain, _) = start(urgent, T0);
    // The primary passes 30 s in: the backup is notified at once, with her own full 2 minutes.
    let (chain, actions) = on_event(&chain, urgent, pass("k1", 1), T0 + 30_000);
    assert_eq!(actions, [notify(3, Level::Local, Role::Backup), timer(4, T0 + 30_000 + 2 * MIN)]);
    // The old timer of the primary's wait is stale now.
    let (same, actions) = on_event(&chain, urgent, timeout(2), T0 + 2 * MIN);
    assert!(actions.is_empty());
    assert_eq!(same, chain);
    // A second tap of the primary's pass button, or any pass for an older notice, is ignored:
    // the backup keeps her time.
    let (same, actions) = on_event(&chain, urgent, pass("k1", 1), T0 + 40_000);
    assert!(actions.is_empty());
    assert_eq!(same, chain);
    // The backup passes too: the supervisor is next.
    let (chain, actions) = on_event(&chain, urgent, pass("k2", 3), T0 + MIN);
    assert_eq!(actions, [notify(5, Level::Local, Role::Supervisor), timer(6, T0 + 3 * MIN)]);
    // A pass for a notice that was never sent is ignored.
    let (same, actions) = on_event(&chain, urgent, pass("k3", 99), T0 + MIN);
    assert!(actions.is_empty() && same == chain);
}

#[test]
fn passing_on_the_last_step_before_a_repeat_starts_the_next_round_at_once() {
    let policies = shipped();
    let urgent = policy(&policies, "urgent");
    let mut chain = start(urgent, T0).0;
    for seq in [2, 4, 6, 8] {
        chain = on_event(&chain, urgent, timeout(seq), T0).0;
    }
    // SAPA 129 (notice 9) passes: the second round starts with the primary at once.
    let (chain, actions) = on_event(&chain, urgent, pass("sapa", 9), T0 + MIN);
    assert_eq!(actions, [notify(11, Level::Local, Role::Primary), timer(12, T0 + 3 * MIN)]);
    assert_eq!(chain.round(), 1);
}

#[test]
fn the_first_acceptance_stops_everything() {
    let policies = shipped();
    let urgent = policy(&policies, "urgent");
    let (chain, _) = start(urgent, T0);
    let (chain, _) = on_event(&chain, urgent, timeout(2), T0 + 2 * MIN);
    let (chain, actions) = on_event(&chain, urgent, accepted("k2"), T0 + 3 * MIN);
    assert_eq!(actions, [ChainAction::Stop { counselor: "k2".into() }]);
    assert_eq!(chain.accepted_by(), Some("k2"));
    assert!(!chain.is_running());
    assert!(resume(&chain).is_empty());
    // Nothing moves it any more: not its timer, not a pass, not a later acceptance.
    for event in [timeout(4), timeout(chain.step_seq()), pass("k2", 3), accepted("k1")] {
        let (after, actions) = on_event(&chain, urgent, event.clone(), T0 + 10 * MIN);
        assert!(actions.is_empty(), "{event:?} gave {actions:?}");
        assert_eq!(after.accepted_by(), Some("k2"), "the first acceptance holds");
    }
    // Someone accepting after the chain was exhausted still takes the case.
    let (_, end) = walk_in_silence(urgent, T0, &always_open);
    let (taken, actions) = on_event(&end, urgent, accepted("sapa"), T0 + 2 * HOUR);
    assert_eq!(actions, [ChainAction::Stop { counselor: "sapa".into() }]);
    assert_eq!(taken.accepted_by(), Some("sapa"));
}

#[test]
fn stale_and_unknown_timeouts_are_ignored() {
    let policies = shipped();
    let urgent = policy(&policies, "urgent");
    let (chain, _) = start(urgent, T0);
    let (chain, _) = on_event(&chain, urgent, timeout(2), T0 + 2 * MIN);
    for seq in [0, 1, 2, 3, 5, 1000] {
        let (after, actions) = on_event(&chain, urgent, timeout(seq), T0 + 3 * MIN);
        assert!(actions.is_empty(), "timeout {seq} is not the pending one, yet gave {actions:?}");
        assert_eq!(after, chain, "timeout {seq} changed the chain");
    }
    // The same timer delivered twice fires once.
    let (once, first) = on_event(&chain, urgent, timeout(4), T0 + 4 * MIN);
    let (twice, second) = on_event(&once, urgent, timeout(4), T0 + 4 * MIN + 5);
    assert_eq!(first.len(), 2);
    assert!(second.is_empty());
    assert_eq!(once, twice);
}

#[test]
fn a_chain_restored_mid_way_continues_with_nothing_lost_or_repeated() {
    let policies = shipped();
    let urgent = policy(&policies, "urgent");
    let (reference, reference_end) = walk_in_silence(urgent, T0, &always_open);

    // The same walk, but the chain goes through JSON before every event, as across restarts.
    let (chain, mut actions) = start(urgent, T0);
    let mut stored = serde_json::to_string(&chain).expect("serialise");
    let mut log: Vec<(i64, ChainAction)> = actions.iter().cloned().map(|a| (T0, a)).collect();
    let mut chain: Chain;
    loop {
        chain = serde_json::from_str(&stored).expect("deserialise");
        assert!(chain.fits(urgent), "the stored chain knows its policy");
        // After a restart the timer comes from the stored chain alone.
        let rearmed = resume(&chain);
        let Some(ChainAction::SetTimer { step_seq, at_ms }) = rearmed.first().cloned() else { break };
        assert_eq!(Some(&ChainAction::SetTimer { step_seq, at_ms }), actions.last(), "same timer re-armed");
        (chain, actions) = on_event(&chain, urgent, timeout(step_seq), at_ms);
        log.extend(actions.iter().cloned().map(|a| (at_ms, a)));
        stored = serde_json::to_string(&chain).expect("serialise");
    }
    assert_eq!(log, reference, "same actions at the same times as without restarts");
    assert_eq!(chain, reference_end);

    // Restarting late: the due step happens late, once, and the next one gets its full wait.
    let (chain, _) = start(urgent, T0);
    let restored: Chain = serde_json::from_str(&serde_json::to_string(&chain).expect("ser")).expect("de");
    let late = T0 + 10 * MIN;
    let (chain, actions) = on_event(&restored, urgent, timeout(2), late);
    assert_eq!(actions, [notify(3, Level::Local, Role::Backup), timer(4, late + 2 * MIN)]);
    let (_, again) = on_event(&chain, urgent, timeout(2), late + 1);
    assert!(again.is_empty(), "a timer fired before the restart and again after it notifies once");
}

#[test]
fn a_changed_policy_is_noticed() {
    let policies = shipped();
    let (chain, _) = start(policy(&policies, "urgent"), T0);
    assert!(chain.fits(policy(&policies, "urgent")));
    assert!(!chain.fits(policy(&policies, "normal")));
    let edited = parse_policies(&SHIPPED.replace("wait: 2m", "wait: 3m")).expect("valid");
    assert!(!chain.fits(policy(&edited, "urgent")), "a stored chain can tell its policy was edited");
}

// ---- Office hours -------------------------------------------------------------------------------

/// Monday to Friday 08:00-16:00 WITA (UTC+8), as the directory reads `mon-fri 08:00-16:00`.
fn office() -> Hours {
    Hours {
        tz: TimeZone::Wita,
        always: false,
        slots: vec![Slot { from_day: 0, to_day: 4, open: 480, close: 960 }],
    }
}

#[test]
fn next_open_is_now_when_open_and_the_next_opening_otherwise() {
    let hours = office();
    // MONDAY is 08:00 WITA on Monday 2026-11-23.
    assert_eq!(next_open_ms(&hours, MONDAY), MONDAY, "opening time is open");
    assert_eq!(next_open_ms(&hours, MONDAY + 3 * HOUR), MONDAY + 3 * HOUR);
    assert_eq!(next_open_ms(&hours, MONDAY - 1), MONDAY, "07:59:59.999 waits a moment");
    assert_eq!(next_open_ms(&hours, MONDAY + 8 * HOUR), MONDAY + 24 * HOUR, "16:00 is closed");
    let friday_evening = MONDAY + 4 * 24 * HOUR + 10 * HOUR;
    assert_eq!(next_open_ms(&hours, friday_evening), MONDAY + 7 * 24 * HOUR, "the weekend is closed");
    assert_eq!(next_open_ms(&always_open(Level::National), friday_evening), friday_evening);
    let no_slots = Hours { tz: TimeZone::Wit, always: false, slots: Vec::new() };
    assert_eq!(next_open_ms(&no_slots, friday_evening), friday_evening, "unknown hours hold nothing back");
}

#[test]
fn a_normal_case_notifies_only_in_office_hours() {
    let policies = shipped();
    let normal = policy(&policies, "normal");
    // Opened Friday 15:00 WITA; SAPA 129 answers day and night, the others keep office hours.
    let friday_3pm = MONDAY + 4 * 24 * HOUR + 7 * HOUR;
    let hours = |level: Level| if level == Level::National { always_open(level) } else { office() };

    let (chain, actions) = start(normal, friday_3pm);
    assert_eq!(actions, [ChainAction::AwaitOfficeHours { step_seq: 1, provider: Level::Local }]);
    assert_eq!(resume(&chain), actions, "an office-hours wait is re-armed after a restart too");
    // A pass while nothing is pending for her is ignored.
    assert!(on_event(&chain, normal, pass("k1", 1), friday_3pm).1.is_empty());

    let (log, end) = walk_in_silence(normal, friday_3pm, &hours);
    let monday = MONDAY + 7 * 24 * HOUR; // 08:00 WITA the next Monday
    let at = |ms: i64| (ms - friday_3pm) / MIN;
    assert_eq!(
        notifications(&log, friday_3pm),
        [
            (0, Level::Local, Target::Role(Role::Primary)),
            // 30 minutes later it is 15:30: still open.
            (30, Level::Local, Target::Role(Role::Backup)),
            // The hour after that ends at 16:30, closed: the repeat waits for Monday 08:00.
            (at(monday), Level::Local, Target::Role(Role::Primary)),
            (at(monday + 30 * MIN), Level::Local, Target::Role(Role::Backup)),
            (at(monday + 90 * MIN), Level::Local, Target::Role(Role::Supervisor)),
            (at(monday + 150 * MIN), Level::Province, Target::ProviderLevel(Level::Province)),
            (at(monday + 270 * MIN), Level::National, Target::ProviderLevel(Level::National)),
        ]
    );
    for (when, action) in &log {
        if let ChainAction::Notify { provider: Level::Local | Level::Province, .. } = action {
            assert_eq!(next_open_ms(&office(), *when), *when, "notified while closed: {action:?}");
        }
    }
    assert_eq!(end.status(), &ChainStatus::Exhausted);
    assert_eq!(end.notified(), normal.max_notifications());
}

// ---- Properties ---------------------------------------------------------------------------------

/// A valid policy file whose `test` policy has 1-3 sections of 1-3 notifications, each followed
/// by a wait or not, a wait closing every repeated section, and repeats of 0 (none) to 5.
fn arb_policy() -> impl Strategy<Value = (String, bool)> {
    let notice = prop::sample::select(vec![
        "notify: primary",
        "notify: backup",
        "notify: supervisor",
        "notify: all_on_call",
        "notify_provider: province",
        "notify_provider: national",
    ]);
    let section =
        (prop::collection::vec((notice, any::<bool>(), 1u32..600), 1..=3), 1u32..600, 0u8..=MAX_REPEAT);
    (prop::collection::vec(section, 1..=3), any::<bool>()).prop_map(|(sections, office_hours_only)| {
        let mut steps: Vec<String> = Vec::new();
        for (notices, closing_wait, times) in sections {
            for (notice, wait_after, secs) in notices {
                steps.push(notice.to_string());
                if wait_after {
                    steps.push(format!("wait: {secs}s"));
                }
            }
            if times > 0 {
                if !steps.last().is_some_and(|s| s.starts_with("wait")) {
                    steps.push(format!("wait: {closing_wait}s"));
                }
                steps.push(format!("repeat: {{ times: {times} }}"));
            }
        }
        while steps.last().is_some_and(|s| s.starts_with("wait")) {
            steps.pop();
        }
        let body: String = steps.iter().map(|s| format!("      - {s}\n")).collect();
        (
            format!("{REQUIRED}  test:\n    office_hours_only: {office_hours_only}\n    steps:\n{body}"),
            office_hours_only,
        )
    })
}

#[derive(Debug, Clone)]
enum Ev {
    /// The pending timer or office-hours wait comes due.
    Fire,
    /// A timeout with some other sequence number.
    Stale(u64),
    /// The counselor of the latest notification passes.
    PassLatest,
    /// A pass for any sequence number.
    Pass(u64),
    /// Someone accepts.
    Accept(u8),
}

fn arb_event() -> impl Strategy<Value = Ev> {
    prop_oneof![
        6 => Just(Ev::Fire),
        1 => (0u64..40).prop_map(Ev::Stale),
        2 => Just(Ev::PassLatest),
        1 => (0u64..40).prop_map(Ev::Pass),
        1 => (0u8..3).prop_map(Ev::Accept),
    ]
}

/// Drives a chain: the events, then (when `finish`) firing its waits until it ends.
struct Driver<'a> {
    policy: &'a Policy,
    chain: Chain,
    now: i64,
    log: Vec<ChainAction>,
    latest_notice: u64,
    round_trip: bool,
}

impl<'a> Driver<'a> {
    fn new(policy: &'a Policy, round_trip: bool) -> Self {
        let (chain, actions) = start(policy, T0);
        let mut d = Driver { policy, chain, now: T0, log: Vec::new(), latest_notice: 0, round_trip };
        d.record(actions);
        d
    }

    fn record(&mut self, actions: Vec<ChainAction>) {
        for a in &actions {
            if let ChainAction::Notify { step_seq, .. } = a {
                self.latest_notice = *step_seq;
            }
        }
        self.log.extend(actions);
    }

    fn event(&mut self, ev: &Ev) {
        let event = match ev {
            Ev::Fire => {
                match self.chain.status() {
                    ChainStatus::Waiting { wake: Wake::At { at_ms } } => self.now = self.now.max(*at_ms),
                    ChainStatus::Waiting { wake: Wake::OfficeHours { .. } } => self.now += 1,
                    _ => {}
                }
                timeout(self.chain.step_seq())
            }
            Ev::Stale(seq) if *seq == self.chain.step_seq() => timeout(seq + 1000),
            Ev::Stale(seq) => timeout(*seq),
            Ev::PassLatest => pass("latest", self.latest_notice),
            Ev::Pass(seq) => pass("someone", *seq),
            Ev::Accept(who) => accepted(&format!("k{who}")),
        };
        if self.round_trip {
            let text = serde_json::to_string(&self.chain).expect("a chain serialises");
            self.chain = serde_json::from_str(&text).expect("and reads back");
        }
        let (chain, actions) = on_event(&self.chain, self.policy, event, self.now);
        self.chain = chain;
        self.record(actions);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_events_on_random_policies_stay_within_bounds(
        (text, office_hours_only) in arb_policy(),
        events in prop::collection::vec(arb_event(), 0..60),
    ) {
        let policies = parse_policies(&text).map_err(|e| TestCaseError::fail(format!("{e:?}\n{text}")))?;
        let policy = policies.get("test").ok_or_else(|| TestCaseError::fail("no test policy"))?;
        prop_assert_eq!(policy.office_hours_only(), office_hours_only);
        let mut driver = Driver::new(policy, false);
        let mut restarted = Driver::new(policy, true);
        for ev in &events {
            driver.event(ev);
            restarted.event(ev);
        }
        // Then silence: fire whatever is pending until the chain ends, within a bound.
        let bound = policy.steps().len() * (usize::from(MAX_REPEAT) + 1) * 2 + 2;
        let mut fired = 0;
        while driver.chain.is_running() {
            prop_assert!(fired <= bound, "no end after {} timers", fired);
            driver.event(&Ev::Fire);
            restarted.event(&Ev::Fire);
            fired += 1;
        }
        prop_assert_eq!(&driver.log, &restarted.log, "a JSON round trip before each event changes nothing");
        prop_assert_eq!(&driver.chain, &restarted.chain);

        let notices = driver.log.iter().filter(|a| matches!(a, ChainAction::Notify { .. })).count() as u32;
        prop_assert!(notices <= policy.max_notifications(), "{} > {}", notices, policy.max_notifications());
        prop_assert_eq!(notices, driver.chain.notified());
        let accepted_at = driver.log.iter().position(|a| matches!(a, ChainAction::Stop { .. }));
        match accepted_at {
            Some(i) => {
                prop_assert_eq!(i + 1, driver.log.len(), "nothing at all after an acceptance");
                let first = events.iter().find_map(|e| match e { Ev::Accept(w) => Some(format!("k{w}")), _ => None });
                prop_assert_eq!(driver.chain.accepted_by().map(str::to_string), first);
            }
            None => {
                // Nobody accepted: every notification went out exactly once (passes only skip
                // waits), and the chain says so once, at the very end.
                prop_assert_eq!(notices, policy.max_notifications());
                prop_assert_eq!(driver.log.last(), Some(&ChainAction::Exhausted));
                prop_assert_eq!(driver.log.iter().filter(|a| **a == ChainAction::Exhausted).count(), 1);
            }
        }
        // Sequence numbers of notifications and waits never repeat or go back.
        let seqs: Vec<u64> = driver.log.iter().filter_map(|a| match a {
            ChainAction::Notify { step_seq, .. }
            | ChainAction::SetTimer { step_seq, .. }
            | ChainAction::AwaitOfficeHours { step_seq, .. } => Some(*step_seq),
            _ => None,
        }).collect();
        prop_assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{:?}", seqs);
    }
}
