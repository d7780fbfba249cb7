//! What a control-interface subject asks for: `wasmbus.ctl.v1.<lattice>.<operation>[.<name>]`,
//! parsed once into a [`Request`], and built back from one, so the hosts that answer and the
//! CLI that asks agree by construction.

use crate::inventory::ctl_prefix;

/// A request of wasmCloud 1.x's control interface, by its subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// `host.ping`: every host answers with its description.
    HostPing,
    /// `component.auction`: hosts that could run a component bid.
    ComponentAuction,
    /// `provider.auction`: hosts that could run a provider bid.
    ProviderAuction,
    /// `claims.get`: the claims of signed components.
    ClaimsGet,
    /// `registry.put`: registry credentials for every host.
    RegistryPut,
    /// `link.put`, `link.del`, `link.get`.
    Link(Verb),
    /// `config.put.<name>`, `config.del.<name>`, `config.get.<name>`.
    Config(Verb, &'a str),
    /// An operation on one host: `<operation>.<host id>`.
    OnHost(HostOp, &'a str),
}

/// What is done to a link or a named config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `put`
    Put,
    /// `del`
    Del,
    /// `get`
    Get,
}

/// An operation addressed to one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostOp {
    /// `component.scale`: start, rescale or stop a component ([`super::ScaleComponentCommand`]).
    ComponentScale,
    /// `component.update`: move a component to a new image ([`super::UpdateComponentCommand`]).
    ComponentUpdate,
    /// `provider.start` ([`super::StartProviderCommand`]).
    ProviderStart,
    /// `provider.stop` ([`super::StopProviderCommand`]).
    ProviderStop,
    /// `host.get`: the host's inventory.
    HostGet,
    /// `host.stop`
    HostStop,
    /// `label.put` ([`super::HostLabel`]).
    LabelPut,
    /// `label.del` ([`super::HostLabel`]).
    LabelDel,
}

impl HostOp {
    const ALL: [(HostOp, &'static str); 8] = [
        (HostOp::ComponentScale, "component.scale"),
        (HostOp::ComponentUpdate, "component.update"),
        (HostOp::ProviderStart, "provider.start"),
        (HostOp::ProviderStop, "provider.stop"),
        (HostOp::HostGet, "host.get"),
        (HostOp::HostStop, "host.stop"),
        (HostOp::LabelPut, "label.put"),
        (HostOp::LabelDel, "label.del"),
    ];

    /// The operation's name in the subject (`component.scale`).
    pub fn as_str(self) -> &'static str {
        HostOp::ALL.iter().find(|(op, _)| *op == self).map(|(_, name)| *name).expect("every operation is named")
    }
}

impl Verb {
    fn parse(text: &str) -> Option<Verb> {
        match text {
            "put" => Some(Verb::Put),
            "del" => Some(Verb::Del),
            "get" => Some(Verb::Get),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Verb::Put => "put",
            Verb::Del => "del",
            Verb::Get => "get",
        }
    }
}

impl<'a> Request<'a> {
    /// The request `subject` makes on `lattice`'s control interface; `None` for a subject of
    /// another lattice, or none wasmCloud defines.
    pub fn parse(lattice: &str, subject: &'a str) -> Option<Request<'a>> {
        Request::parse_operation(subject.strip_prefix(ctl_prefix(lattice).as_str())?.strip_prefix('.')?)
    }

    /// The request a subject makes, from what follows the lattice's prefix (`link.put`,
    /// `component.scale.<host>`): also how a Trellis manager reads what hosts relay to it.
    pub fn parse_operation(rest: &'a str) -> Option<Request<'a>> {
        Some(match rest {
            "host.ping" => Request::HostPing,
            "component.auction" => Request::ComponentAuction,
            "provider.auction" => Request::ProviderAuction,
            "claims.get" => Request::ClaimsGet,
            "registry.put" => Request::RegistryPut,
            _ => {
                if let Some(verb) = rest.strip_prefix("link.") {
                    return Verb::parse(verb).map(Request::Link);
                }
                if let Some(config) = rest.strip_prefix("config.") {
                    let (verb, name) = config.split_once('.').filter(|(_, name)| !name.is_empty())?;
                    return Some(Request::Config(Verb::parse(verb)?, name));
                }
                let (op, host) = rest.rsplit_once('.')?;
                let op = HostOp::ALL.iter().find(|(_, name)| *name == op)?.0;
                if host.is_empty() {
                    return None;
                }
                Request::OnHost(op, host)
            }
        })
    }

    /// Its subject on `lattice`.
    pub fn subject(&self, lattice: &str) -> String {
        format!("{}.{}", ctl_prefix(lattice), self.operation())
    }

    /// Its subject after the lattice's prefix: `link.put`, `component.scale.<host>`.
    pub fn operation(&self) -> String {
        match self {
            Request::HostPing => "host.ping".into(),
            Request::ComponentAuction => "component.auction".into(),
            Request::ProviderAuction => "provider.auction".into(),
            Request::ClaimsGet => "claims.get".into(),
            Request::RegistryPut => "registry.put".into(),
            Request::Link(verb) => format!("link.{}", verb.as_str()),
            Request::Config(verb, name) => format!("config.{}.{name}", verb.as_str()),
            Request::OnHost(op, host) => format!("{}.{host}", op.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_parses_back_from_its_subject() {
        let requests = [
            Request::HostPing,
            Request::ComponentAuction,
            Request::ProviderAuction,
            Request::ClaimsGet,
            Request::RegistryPut,
            Request::Link(Verb::Put),
            Request::Link(Verb::Del),
            Request::Link(Verb::Get),
            Request::Config(Verb::Put, "db-settings"),
            Request::Config(Verb::Get, "a.b"),
        ];
        let on_host = HostOp::ALL.map(|(op, _)| Request::OnHost(op, "NBHOST"));
        for request in requests.iter().chain(&on_host) {
            let subject = request.subject("default");
            assert_eq!(Request::parse("default", &subject).as_ref(), Some(request), "{subject}");
            assert_eq!(Request::parse("other", &subject), None, "{subject} is not of lattice `other`");
        }
        assert_eq!(Request::OnHost(HostOp::ComponentScale, "NB1").subject("l"), "wasmbus.ctl.v1.l.component.scale.NB1");
        assert_eq!(Request::Config(Verb::Del, "x").subject("l"), "wasmbus.ctl.v1.l.config.del.x");
    }

    #[test]
    fn subjects_wasmcloud_does_not_define_are_none() {
        for subject in [
            "wasmbus.ctl.v1.default",
            "wasmbus.ctl.v1.default.link.watch",
            "wasmbus.ctl.v1.default.config.put",
            "wasmbus.ctl.v1.default.config.put.",
            "wasmbus.ctl.v1.default.component.scale",
            "wasmbus.ctl.v1.default.component.explode.NB1",
            "wasmbus.ctl.v1.defaultx.host.ping",
            "wasmbus.evt.default.host_heartbeat",
        ] {
            assert_eq!(Request::parse("default", subject), None, "{subject}");
        }
    }
}
