//! Where Patchbay may send: a project owner must not be able to aim the
//! server at its own network. Webhook endpoints on loopback, private,
//! link-local and other non-public addresses are refused unless the
//! deployment allows them (`--allow-private-outbound`). This checks what
//! the URL says; delivery checks each address the name resolves to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::error::ApiError;

/// The longest endpoint URL accepted.
pub const MAX_URI_LEN: usize = 2048;

/// Parses a webhook endpoint and refuses one that names a non-public host.
pub fn check_endpoint(uri: &str, field: &str, allow_private: bool) -> Result<Url, ApiError> {
    let invalid = |why: &str| ApiError::invalid_field(field, why);
    if uri.len() > MAX_URI_LEN {
        return Err(invalid("must be at most 2048 bytes"));
    }
    let url = Url::parse(uri).map_err(|_| invalid("is not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("must be http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "must not carry credentials; the channel signs its deliveries",
        ));
    }
    let private = match url.host() {
        None => return Err(invalid("must name a host")),
        Some(Host::Ipv4(ip)) => !is_public(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => !is_public(IpAddr::V6(ip)),
        Some(Host::Domain(name)) => is_local_name(name),
    };
    if private && !allow_private {
        return Err(invalid(
            "points at a loopback, private or link-local address, which this server does not call",
        ));
    }
    Ok(url)
}

/// Names that resolve to this machine or its link without asking DNS.
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Whether an address is one the public internet routes to.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        // Shared address space (carrier-grade NAT), 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // Reserved, 240.0.0.0/4.
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local, fc00::/7.
        || (first & 0xfe00) == 0xfc00
        // Link-local, fe80::/10, and the old site-local, fec0::/10.
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_hosts_are_refused_unless_allowed() {
        for uri in [
            "http://127.0.0.1/hook",
            "http://127.1.2.3:8080/",
            "https://10.0.0.5/",
            "https://172.16.0.1/",
            "https://172.31.255.255/",
            "https://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://255.255.255.255/",
            "http://224.0.0.1/",
            "http://[::1]/",
            "http://[::]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:10.1.2.3]/",
            "http://localhost:9000/",
            "http://LOCALHOST./",
            "http://api.localhost/",
            "http://2130706433/",
            "http://0.1.2.3/",
            "http://100.127.255.255/",
            "http://240.0.0.1/",
            "http://[fc00::1]/",
            "http://[febf::1]/",
            "http://[fec0::1]/",
            "http://[ff02::1]/",
        ] {
            assert!(check_endpoint(uri, "uri", false).is_err(), "{uri}");
            assert!(
                check_endpoint(uri, "uri", true).is_ok(),
                "{uri} when allowed"
            );
        }
    }

    #[test]
    fn public_hosts_pass_and_bad_urls_never_do() {
        for uri in [
            "https://hooks.example.com/patchbay",
            "http://93.184.216.34/",
            "https://172.32.0.1/",
            "https://100.128.0.1/",
            "https://[2606:4700::1111]/",
            "https://100.63.255.255/",
            "https://223.255.255.254/",
            "https://[::ffff:93.184.216.34]/",
            "https://[fbff::1]/",
            "https://[fe00::1]/",
        ] {
            assert!(check_endpoint(uri, "uri", false).is_ok(), "{uri}");
        }
        for uri in [
            "",
            "hooks.example.com",
            "ftp://example.com/",
            "file:///etc/passwd",
            "https://user:pass@example.com/",
            "https://user@example.com/",
            "https://:pass@example.com/",
            "https://",
        ] {
            assert!(check_endpoint(uri, "uri", true).is_err(), "{uri}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URI_LEN));
        assert!(check_endpoint(&long, "uri", true).is_err());
        let prefix = "https://example.com/".len();
        let longest = format!("https://example.com/{}", "a".repeat(MAX_URI_LEN - prefix));
        assert_eq!(longest.len(), MAX_URI_LEN);
        assert!(
            check_endpoint(&longest, "uri", true).is_ok(),
            "2048 bytes pass"
        );
    }
}
