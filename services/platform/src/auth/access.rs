//! Who may call each method, checked before a request is decoded or validated.
//!
//! Every service declares one [`Access`] table: for each of its methods, the roles that may
//! call it (or [`Allowed::Anyone`] for the public ones, `Register` and `ListSkills`). The
//! [`AuthLayer`](super::AuthLayer) applies it to every call, so a caller without the role is
//! refused with `PermissionDenied` (or `Unauthenticated` without a token) before the service
//! reads a byte of the request: a volunteer's token cannot make a staff method validate
//! 20,000 list entries. The handlers still check what needs the target (the organisation of
//! an incident, the volunteer of a match).
//!
//! A unit test in each service checks its table against the protos
//! ([`Access::assert_complete`]), so a new RPC cannot be served without a rule.

use super::Role;

/// Who may call a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// Also callers without a token.
    Anyone,
    /// Callers whose token grants one of these roles.
    Roles(&'static [Role]),
}

/// Staff who write: coordinators (of their organisation) and admins.
pub const WRITERS: Allowed = Allowed::Roles(&[Role::Coordinator, Role::Admin]);
/// Staff who read: coordinators, dashboards and admins.
pub const READERS: Allowed = Allowed::Roles(&[Role::Coordinator, Role::Dashboard, Role::Admin]);
/// The volunteer themself.
pub const VOLUNTEER: Allowed = Allowed::Roles(&[Role::Volunteer]);
/// Admins only.
pub const ADMINS: Allowed = Allowed::Roles(&[Role::Admin]);

/// The rules of one gRPC service: its fully-qualified name and, per method, who may call it.
#[derive(Debug)]
pub struct Access {
    /// `spontan.v1.TaskService`.
    pub service: &'static str,
    pub methods: &'static [(&'static str, Allowed)],
}

/// Why a call is refused before its handler runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Unauthenticated,
    PermissionDenied(String),
}

impl Access {
    /// The rule for `method` (its name, `ListTasks`); `None` for a method the table does not
    /// name (the server answers Unimplemented for it anyway).
    pub fn rule(&self, method: &str) -> Option<Allowed> {
        self.methods
            .iter()
            .find(|(name, _)| *name == method)
            .map(|(_, allowed)| *allowed)
    }

    /// Whether a caller with `role` (`None`: no token) may call `method`.
    pub fn check(&self, method: &str, role: Option<Role>) -> Result<(), Refusal> {
        match (self.rule(method), role) {
            (None | Some(Allowed::Anyone), _) => Ok(()),
            (Some(Allowed::Roles(_)), None) => Err(Refusal::Unauthenticated),
            (Some(Allowed::Roles(roles)), Some(role)) if roles.contains(&role) => Ok(()),
            (Some(Allowed::Roles(roles)), Some(role)) => {
                let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
                Err(Refusal::PermissionDenied(format!(
                    "{method} is for {}, not for a {} token",
                    names.join(" or "),
                    role.name()
                )))
            }
        }
    }

    /// The methods of this service in `descriptor_set` (an encoded `FileDescriptorSet`) that
    /// the table has no rule for, and the rules that name no method: both empty when the
    /// table is complete.
    pub fn missing(&self, descriptor_set: &[u8]) -> (Vec<String>, Vec<String>) {
        use prost::Message;
        let set = prost_types::FileDescriptorSet::decode(descriptor_set)
            .expect("an encoded FileDescriptorSet");
        let methods: Vec<String> = set
            .file
            .iter()
            .flat_map(|file| {
                let package = file.package().to_owned();
                file.service
                    .iter()
                    .filter(move |service| format!("{package}.{}", service.name()) == self.service)
                    .map(|service| service.method.iter().map(|m| m.name().to_owned()))
            })
            .flatten()
            .collect();
        let unruled = methods
            .iter()
            .filter(|m| self.rule(m).is_none())
            .cloned()
            .collect();
        let unknown = self
            .methods
            .iter()
            .filter(|(name, _)| !methods.iter().any(|m| m == name))
            .map(|(name, _)| (*name).to_owned())
            .collect();
        (unruled, unknown)
    }

    /// Panics, naming them, unless every method of this service in `descriptor_set` has a rule
    /// and every rule names a method: the unit test each service runs on its table.
    pub fn assert_complete(&self, descriptor_set: &[u8]) {
        let (unruled, unknown) = self.missing(descriptor_set);
        assert!(
            unruled.is_empty(),
            "{}: methods without an access rule: {unruled:?}",
            self.service
        );
        assert!(
            unknown.is_empty(),
            "{}: rules for methods that do not exist: {unknown:?}",
            self.service
        );
    }
}

/// The service and method of a gRPC request path (`/spontan.v1.TaskService/ListTasks`).
pub(crate) fn split_path(path: &str) -> Option<(&str, &str)> {
    path.strip_prefix('/')?.split_once('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: Access = Access {
        service: "spontan.v1.TaskService",
        methods: &[("ListTasks", READERS), ("CreateTask", WRITERS)],
    };

    #[test]
    fn roles_are_checked_before_anything_else() {
        assert_eq!(TABLE.check("ListTasks", Some(Role::Dashboard)), Ok(()));
        assert_eq!(
            TABLE.check("ListTasks", None),
            Err(Refusal::Unauthenticated)
        );
        let Err(Refusal::PermissionDenied(why)) = TABLE.check("CreateTask", Some(Role::Volunteer))
        else {
            panic!("a volunteer may not create tasks");
        };
        assert_eq!(
            why,
            "CreateTask is for coordinator or admin, not for a volunteer token"
        );
        // Unknown methods are the server's to refuse (Unimplemented).
        assert_eq!(TABLE.check("Nope", None), Ok(()));
    }

    #[test]
    fn paths_split_into_service_and_method() {
        assert_eq!(
            split_path("/spontan.v1.TaskService/ListTasks"),
            Some(("spontan.v1.TaskService", "ListTasks"))
        );
        assert_eq!(split_path("ListTasks"), None);
    }
}
