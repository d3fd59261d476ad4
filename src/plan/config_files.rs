//! Configuration files of the application's components rendered from the spec (redis.conf);
//! the monitoring ones are in `monitoring_config`.

use crate::api::validated::{Cache, Persistence};

pub const CACHE_AUTH_PATH: &str = "/run/secrets/cache-auth.conf";

pub fn redis_conf(cache: &Cache) -> String {
    let persistence = match cache.persistence {
        Persistence::None => "save \"\"\nappendonly no\n",
        Persistence::Rdb => "save 3600 1 300 100 60 10000\nappendonly no\n",
        Persistence::Aof => "save \"\"\nappendonly yes\nappendfsync everysec\n",
    };
    format!(
        "# Rendered by appstack; edit the AppStack spec instead.\nbind 0.0.0.0\nprotected-mode no\nport 6379\ndir /data\nmaxmemory {}\nmaxmemory-policy {}\n{persistence}include {CACHE_AUTH_PATH}\n",
        cache.maxmemory_bytes, cache.maxmemory_policy
    )
}
