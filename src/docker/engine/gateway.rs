//! Where containers reach the host: the default bridge's gateway (`host-gateway`).

/// The default bridge's IPv4 gateway: as configured, or (Docker 20.10 leaves it out of the
/// default bridge's IPAM config) the subnet's first address, which is where dockerd puts
/// it unless `--bip` names another.
pub(super) fn bridge_gateway(configs: &[(Option<&str>, Option<&str>)]) -> Option<std::net::IpAddr> {
    let configured = configs
        .iter()
        .filter_map(|(g, _)| (*g)?.parse::<std::net::IpAddr>().ok())
        .find(std::net::IpAddr::is_ipv4);
    configured.or_else(|| {
        configs.iter().find_map(|(_, subnet)| {
            let (addr, _) = (*subnet)?.split_once('/')?;
            let net: std::net::Ipv4Addr = addr.parse().ok()?;
            Some(std::net::IpAddr::V4(std::net::Ipv4Addr::from(
                u32::from(net).checked_add(1)?,
            )))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::bridge_gateway;

    #[test]
    fn the_gateway_as_configured_or_the_subnets_first_address() {
        let ip = |s: &str| Some(s.parse().unwrap());
        assert_eq!(
            bridge_gateway(&[(Some("172.26.0.1"), Some("172.26.0.0/16"))]),
            ip("172.26.0.1")
        );
        assert_eq!(
            bridge_gateway(&[(None, Some("172.17.0.0/16"))]),
            ip("172.17.0.1")
        );
        assert_eq!(bridge_gateway(&[(None, None)]), None);
    }
}
