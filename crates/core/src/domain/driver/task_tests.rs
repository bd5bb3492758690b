use super::*;

#[test]
fn task_decisions() {
    let m = || Some("reboot".to_owned());
    let cases = [
        (None, None, false, TaskDecision::Keep),
        (None, None, true, TaskDecision::Keep),
        (None, Some("old"), true, TaskDecision::Resolve),
        (None, Some("old"), false, TaskDecision::Resolve),
        (m(), None, true, TaskDecision::Create("reboot".into())),
        (m(), None, false, TaskDecision::Keep),
        (
            m(),
            Some("old"),
            true,
            TaskDecision::Update("reboot".into()),
        ),
        (
            m(),
            Some("old"),
            false,
            TaskDecision::Update("reboot".into()),
        ),
        (m(), Some("reboot"), true, TaskDecision::Keep),
        (m(), Some("reboot"), false, TaskDecision::Keep),
    ];
    for (needed, active, changed, expected) in cases {
        assert_eq!(
            reboot_task_decision(needed.clone(), active, changed),
            expected,
            "{needed:?} {active:?} {changed}"
        );
    }
}
