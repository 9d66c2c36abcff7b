//! What every fuzz target asserts of a refused input: the refusal is `InvalidArgument` with at
//! least one field violation, each naming a field and saying what is wrong. A panic anywhere,
//! or a refusal of another shape, is a crash that libFuzzer reports with the input.

use spontan_platform::ApiError;
use spontan_platform::error::Violations;

/// Panics unless `error` is a proper validation refusal.
pub fn assert_refusal(error: ApiError) {
    match error {
        ApiError::InvalidArgument(list) => {
            assert!(!list.is_empty(), "a refusal without a field violation");
            for v in list {
                assert!(!v.field.is_empty(), "a violation naming no field");
                assert!(!v.description.is_empty(), "a violation without a reason");
            }
        }
        other => panic!("a validator returned {other:?}, not InvalidArgument"),
    }
}

/// Checks the violations a validator collected, if any.
pub fn check(violations: Violations) {
    if let Err(error) = violations.finish(()) {
        assert_refusal(error);
    }
}
