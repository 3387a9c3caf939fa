/*
 * OpenID Connect / OAuth2 login at the edge: the provider block, discovery
 * through the outbound worker, login sessions (cookie, shm or Redis store)
 * and the `oidc` access method. The endpoints (/oauth2/callback ...) are in
 * ngx_edge_auth_oidc_endpoints.cpp.
 *
 *   edge_auth_session_secret file:/etc/nginx/session.key;
 *   edge_auth_oidc_provider corp {
 *       issuer        https://idp.example.com;
 *       client_id     edge;
 *       client_secret file:/etc/nginx/corp.secret;
 *   }
 *   location / { edge_auth oidc; edge_auth_oidc corp; proxy_pass http://app; }
 *
 * Per request, a session costs a cookie decrypt (cookie store) or one zone
 * lookup (shm) or one Redis GET (redis), plus one zone lookup for sessions
 * ended by sign-out or back-channel logout.
 */

#include "ngx/ngx_edge_auth_oidc.h"

#include <algorithm>
#include <new>

#include "core/aead.h"
#include "core/crypto.h"
#include "core/header_value.h"
#include "core/query.h"
#include "core/text.h"

using edge_auth::Session;
using edge_auth::SessionState;


int64_t
ea_now_ms()
{
    ngx_time_t *tp = ngx_timeofday();
    return static_cast<int64_t>(tp->sec) * 1000 + tp->msec;
}


int64_t
ea_now_s()
{
    return static_cast<int64_t>(ngx_time());
}


void
ea_oidc_log(ngx_http_request_t *r, ngx_uint_t level, EaOidcProvider *p,
    const char *what, std::string_view detail)
{
    std::string safe = edge_auth::log_safe(detail, 300);
    ea_log(r, level, "edge_auth: oidc provider \"%s\": %s%s%s", p->name.c_str(), what,
           safe.empty() ? "" : ": ", safe.c_str());
}

/* ---- configuration ------------------------------------------------------ */

static void
ea_oidc_provider_cleanup(void *data) noexcept
{
    delete static_cast<EaOidcProvider *>(data);
}


static EaOidcProvider *
ea_oidc_find(ea_main_conf_t *mcf, std::string_view name)
{
    auto **all = static_cast<EaOidcProvider **>(mcf->oidc_providers->elts);
    for (ngx_uint_t i = 0; i < mcf->oidc_providers->nelts; i++) {
        if (all[i]->name == name) {
            return all[i];
        }
    }
    return NULL;
}


struct ea_oidc_parse_t {
    EaOidcProvider *p;
    std::string preset;
    std::string preset_param;
    std::string base_url;
    std::string api_url;
    bool has_preset = false;
};


static char *
ea_oidc_error(ngx_conf_t *cf, const char *fmt, ngx_str_t *arg)
{
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, fmt, arg);
    return static_cast<char *>(NGX_CONF_ERROR);
}


static bool
ea_is_http_url(std::string_view url)
{
    return url.substr(0, 8) == "https://" || url.substr(0, 7) == "http://";
}


static bool
ea_conf_flag(ngx_conf_t *cf, ngx_str_t *v, bool *out)
{
    if (ea_sv(v[1]) == "on") {
        *out = true;
    } else if (ea_sv(v[1]) == "off") {
        *out = false;
    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid value \"%V\" in \"%V\" "
                           "(expected on or off)", &v[1], &v[0]);
        return false;
    }
    return true;
}


/* One line inside edge_auth_oidc_provider { ... }. */
static char *
ea_oidc_param(ngx_conf_t *cf, ngx_command_t *dummy, void *conf) noexcept
{
    try {
        auto *ps = reinterpret_cast<ea_oidc_parse_t *>(conf);
        EaOidcProvider *p = ps->p;
        ngx_str_t *v = static_cast<ngx_str_t *>(cf->args->elts);
        ngx_uint_t n = cf->args->nelts;
        std::string_view name = ea_sv(v[0]);
        char *const error = static_cast<char *>(NGX_CONF_ERROR);

        auto want = [cf](ngx_uint_t min, ngx_uint_t max) { return ea_conf_nargs(cf, min, max); };
        auto url = [&](std::string *out) {
            if (!want(1, 1)) return false;
            if (!ea_is_http_url(ea_sv(v[1]))) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V \"%V\" must be an http(s) URL",
                                   &v[0], &v[1]);
                return false;
            }
            out->assign(ea_sv(v[1]));
            return true;
        };
        auto list = [&](std::vector<std::string> *out) {
            if (!want(1, 256)) return false;
            for (ngx_uint_t i = 1; i < n; i++) {
                out->emplace_back(ea_sv(v[i]));
            }
            return true;
        };
        auto seconds = [&](int64_t *out) {
            int64_t ms;
            if (!want(1, 1) || !ea_conf_msec(cf, &v[1], &ms)) return false;
            *out = ms / 1000;
            return true;
        };
        edge_auth::ProviderEndpoints &ep = p->configured;

        if (name == "issuer") {
            if (!url(&p->issuer)) return error;
        } else if (name == "preset") {
            if (!want(1, 2)) return error;
            ps->has_preset = true;
            ps->preset.assign(ea_sv(v[1]));
            if (n == 3) ps->preset_param.assign(ea_sv(v[2]));
            if (!edge_auth::find_preset(ps->preset, ps->preset_param)) {
                std::string names(edge_auth::preset_names());
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "unknown preset \"%V\" (expected "
                                   "one of: %s)", &v[1], names.c_str());
                return error;
            }
        } else if (name == "base_url") {
            if (!url(&ps->base_url)) return error;
        } else if (name == "api_url") {
            if (!url(&ps->api_url)) return error;
        } else if (name == "authorization_endpoint") {
            if (!url(&ep.authorization_endpoint)) return error;
        } else if (name == "token_endpoint") {
            if (!url(&ep.token_endpoint)) return error;
        } else if (name == "userinfo_endpoint") {
            if (!url(&ep.userinfo_endpoint)) return error;
        } else if (name == "jwks_uri") {
            if (!url(&ep.jwks_uri)) return error;
        } else if (name == "end_session_endpoint") {
            if (!url(&ep.end_session_endpoint)) return error;
        } else if (name == "client_id") {
            if (!want(1, 1) || !ea_conf_ref(cf, &v[1], &p->client.client_id)) return error;
        } else if (name == "client_secret") {
            if (!want(1, 1) || !ea_conf_ref(cf, &v[1], &p->client.client_secret)) return error;
        } else if (name == "auth_method") {
            if (!want(1, 1)) return error;
            if (ea_sv(v[1]) == "client_secret_basic") {
                p->client.auth_method = edge_auth::ClientAuthMethod::ClientSecretBasic;
            } else if (ea_sv(v[1]) == "client_secret_post") {
                p->client.auth_method = edge_auth::ClientAuthMethod::ClientSecretPost;
            } else {
                return ea_oidc_error(cf, "invalid auth_method \"%V\" (expected "
                                     "client_secret_basic or client_secret_post)", &v[1]);
            }
        } else if (name == "scopes" || name == "scope") {
            if (!want(1, 64)) return error;
            p->client.scopes.clear();
            for (ngx_uint_t i = 1; i < n; i++) {
                if (!p->client.scopes.empty()) p->client.scopes += ' ';
                p->client.scopes += ea_sv(v[i]);
            }
            p->scopes_set = true;
        } else if (name == "endpoint_prefix") {
            if (!want(1, 1)) return error;
            std::string_view pre = ea_sv(v[1]);
            if (pre.size() < 2 || pre[0] != '/' || pre.back() == '/'
                || pre.find_first_of("?#% \t") != std::string_view::npos)
            {
                return ea_oidc_error(cf, "invalid endpoint_prefix \"%V\" (a path like "
                                     "/oauth2, without a trailing slash)", &v[1]);
            }
            p->prefix.assign(pre);
        } else if (name == "pkce") {
            if (!want(1, 1) || !ea_conf_flag(cf, v, &p->client.pkce)) return error;
        } else if (name == "session_store") {
            if (!want(1, 1)) return error;
            if (ea_sv(v[1]) == "cookie") p->store = EaSessionStore::Cookie;
            else if (ea_sv(v[1]) == "shm") p->store = EaSessionStore::Shm;
            else if (ea_sv(v[1]) == "redis") p->store = EaSessionStore::Redis;
            else return ea_oidc_error(cf, "invalid session_store \"%V\" (expected cookie, "
                                      "shm or redis)", &v[1]);
        } else if (name == "session_lifetime") {
            if (!seconds(&p->policy.lifetime)) return error;
            if (p->policy.lifetime <= 0) return ea_oidc_error(cf, "invalid %V", &v[0]);
        } else if (name == "session_idle") {
            if (!seconds(&p->policy.idle)) return error;
        } else if (name == "refresh") {
            if (!want(1, 1) || !ea_conf_flag(cf, v, &p->refresh)) return error;
        } else if (name == "cookie_name") {
            if (!want(1, 1)) return error;
            if (!edge_auth::is_header_name(ea_sv(v[1])) || v[1].len > 64) {
                return ea_oidc_error(cf, "invalid cookie_name \"%V\"", &v[1]);
            }
            p->cookie.name.assign(ea_sv(v[1]));
        } else if (name == "cookie_domain") {
            if (!want(1, 1)) return error;
            if (ea_sv(v[1]).find_first_of(";, \t/") != std::string_view::npos) {
                return ea_oidc_error(cf, "invalid cookie_domain \"%V\"", &v[1]);
            }
            p->cookie.domain.assign(ea_sv(v[1]));
        } else if (name == "cookie_samesite") {
            if (!want(1, 1)) return error;
            std::string_view s = ea_sv(v[1]);
            if (s == "lax") p->cookie.same_site = "Lax";
            else if (s == "strict") p->cookie.same_site = "Strict";
            else if (s == "none") p->cookie.same_site = "None";
            else return ea_oidc_error(cf, "invalid cookie_samesite \"%V\" (expected lax, "
                                      "strict or none)", &v[1]);
        } else if (name == "cookie_secure") {
            if (!want(1, 1) || !ea_conf_flag(cf, v, &p->cookie.secure)) return error;
        } else if (name == "allowed_redirect_hosts") {
            if (!list(&p->redirect_hosts)) return error;
        } else if (name == "allowed_users") {
            if (!list(&p->allowed_users)) return error;
        } else if (name == "allowed_groups") {
            if (!list(&p->allowed_groups)) return error;
        } else if (name == "allowed_email_domains") {
            if (!list(&p->allowed_domains)) return error;
        } else if (name == "unauth_action") {
            if (!want(1, 1)) return error;
            std::string_view a = ea_sv(v[1]);
            if (a == "auto") p->unauth = EaUnauthAction::Auto;
            else if (a == "redirect") p->unauth = EaUnauthAction::Redirect;
            else if (a == "401") p->unauth = EaUnauthAction::Unauthorized;
            else return ea_oidc_error(cf, "invalid unauth_action \"%V\" (expected auto, "
                                      "redirect or 401)", &v[1]);
        } else if (name == "post_logout_redirect") {
            if (!want(1, 1)) return error;
            if (v[1].data[0] != '/' && !ea_is_http_url(ea_sv(v[1]))) {
                return ea_oidc_error(cf, "invalid post_logout_redirect \"%V\" (a path or "
                                     "an http(s) URL)", &v[1]);
            }
            p->post_logout_redirect.assign(ea_sv(v[1]));
        } else if (name == "connect_jwt_secret") {
            if (!want(1, 1) || !ea_conf_ref(cf, &v[1], &p->connect_secret)) return error;
            if (p->connect_secret.size() < 16) {
                return ea_oidc_error(cf, "%V must be at least 16 bytes", &v[0]);
            }
        } else if (name == "connect_jwt_expires") {
            if (!seconds(&p->connect_expires)) return error;
        } else if (name == "pass_access_token") {
            if (!want(1, 1) || !ea_conf_flag(cf, v, &p->pass_access_token)) return error;
        } else if (name == "groups_claim") {
            if (!want(1, 1)) return error;
            p->groups_claim.assign(ea_sv(v[1]));
        } else if (name == "userinfo") {
            bool on;
            if (!want(1, 1) || !ea_conf_flag(cf, v, &on)) return error;
            p->userinfo = on ? 1 : 0;
        } else if (name == "trust_forwarded_headers") {
            if (!want(1, 1) || !ea_conf_flag(cf, v, &p->trust_forwarded)) return error;
        } else if (name == "timeout") {
            if (!want(1, 1) || !ea_conf_msec(cf, &v[1], &p->timeout_ms)) return error;
            if (p->timeout_ms <= 0) return ea_oidc_error(cf, "invalid timeout \"%V\"", &v[1]);
        } else if (name == "ca_file") {
            if (!want(1, 1)) return error;
            ngx_str_t path = v[1];
            if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) return error;
            p->ca_file.assign(ea_sv(path));
            if (access(p->ca_file.c_str(), R_OK) != 0) {
                return ea_oidc_error(cf, "cannot read ca_file \"%V\"", &path);
            }
        } else {
            return ea_oidc_error(cf, "unknown edge_auth_oidc_provider parameter \"%V\"",
                                 &v[0]);
        }
        return NGX_CONF_OK;
    } catch (const std::exception &e) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth: %s", e.what());
        return static_cast<char *>(NGX_CONF_ERROR);
    }
}


/* After the block: presets, defaults and what must be there. */
static char *
ea_oidc_finish_block(ngx_conf_t *cf, ea_main_conf_t *mcf, ea_oidc_parse_t *ps,
    ngx_str_t *name)
{
    EaOidcProvider *p = ps->p;

    if (ps->has_preset) {
        std::optional<edge_auth::Preset> preset = edge_auth::find_preset(
            ps->preset, ps->preset_param, ps->base_url, ps->api_url);
        if (!preset) {
            return ea_oidc_error(cf, "edge_auth_oidc_provider \"%V\": invalid preset", name);
        }
        p->oidc = preset->oidc;
        if (p->issuer.empty()) {
            p->issuer = preset->endpoints.issuer;
        }
        edge_auth::merge_endpoints(p->configured, preset->endpoints);
        p->configured.issuer.clear();
        p->user_api = preset->user_api;
        if (!p->scopes_set) {
            p->client.scopes = preset->scopes;
        }
    } else if (!ps->base_url.empty() || !ps->api_url.empty()) {
        return ea_oidc_error(cf, "edge_auth_oidc_provider \"%V\": base_url and api_url "
                             "need a preset", name);
    }

    if (p->client.client_id.empty()) {
        return ea_oidc_error(cf, "edge_auth_oidc_provider \"%V\" needs client_id", name);
    }
    const edge_auth::ProviderEndpoints &ep = p->configured;
    if (p->issuer.empty()
        && (ep.authorization_endpoint.empty() || ep.token_endpoint.empty()))
    {
        return ea_oidc_error(cf, "edge_auth_oidc_provider \"%V\" needs issuer, a preset, "
                             "or authorization_endpoint and token_endpoint", name);
    }
    if (p->oidc && p->issuer.empty()) {
        /* explicit endpoints of an OIDC provider: the ID token's iss must
         * still be known, and its keys */
        if (ep.jwks_uri.empty()) {
            return ea_oidc_error(cf, "edge_auth_oidc_provider \"%V\" needs issuer "
                                 "(or jwks_uri with explicit endpoints)", name);
        }
    }
    if (!p->oidc && p->user_api.empty() && ep.userinfo_endpoint.empty()) {
        return ea_oidc_error(cf, "edge_auth_oidc_provider \"%V\" needs userinfo_endpoint",
                             name);
    }
    if (p->cookie.name.empty()) {
        p->cookie.name = "edge_auth_session";
    }
    if (p->cookie.same_site == "None" && !p->cookie.secure) {
        return ea_oidc_error(cf, "edge_auth_oidc_provider \"%V\": cookie_samesite none "
                             "needs cookie_secure on (browsers refuse it otherwise)", name);
    }
    p->client.provider = p->name;

    if (p->oidc) {
        /* the jwks_uri may come from discovery: a source with a placeholder
         * URL, given its real one when the worker knows it */
        std::string url = ep.jwks_uri.empty() ? "oidc-provider:" + p->name : ep.jwks_uri;
        p->jwks = ea_jwks_source(cf, mcf, url, 3600 * 1000, 10 * 1000);
        ea_jwks_set_url(p->jwks, url, p->timeout_ms, p->ca_file);
    }
    return NGX_CONF_OK;
}


char *
ea_conf_oidc_provider(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept
{
    try {
        ea_main_conf_t *mcf = static_cast<ea_main_conf_t *>(conf);
        ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);

        if (ea_oidc_find(mcf, ea_sv(value[1])) != NULL) {
            return ea_oidc_error(cf, "duplicate edge_auth_oidc_provider \"%V\"", &value[1]);
        }
        auto owned = std::make_unique<EaOidcProvider>();
        EaOidcProvider *p = owned.get();
        p->name.assign(ea_sv(value[1]));
        p->conf_file = cf->conf_file->file.name;
        p->conf_line = cf->conf_file->line;

        ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(cf->pool, 0);
        auto **slot = static_cast<EaOidcProvider **>(ngx_array_push(mcf->oidc_providers));
        if (cln == NULL || slot == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        cln->handler = ea_oidc_provider_cleanup;
        cln->data = owned.release();
        *slot = p;

        /* the block's own directives reuse cf->args: keep the name */
        ngx_str_t name = value[1];
        ea_oidc_parse_t ps;
        ps.p = p;
        ngx_conf_t save = *cf;
        cf->handler = ea_oidc_param;
        cf->handler_conf = reinterpret_cast<char *>(&ps);
        char *rv = ngx_conf_parse(cf, NULL);
        *cf = save;
        if (rv != NGX_CONF_OK) {
            return rv;
        }
        return ea_oidc_finish_block(cf, mcf, &ps, &name);
    } catch (const std::exception &e) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth: %s", e.what());
        return static_cast<char *>(NGX_CONF_ERROR);
    }
}


char *
ea_conf_oidc(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept
{
    ea_loc_conf_t *lcf = static_cast<ea_loc_conf_t *>(conf);
    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
    if (lcf->oidc_name.len > 0) {
        return const_cast<char *>("is duplicate");
    }
    lcf->oidc_name = value[1];
    lcf->oidc_file = cf->conf_file->file.name;
    lcf->oidc_line = cf->conf_file->line;
    return NGX_CONF_OK;
}


/* Secure cookies on a server that only listens without ssl: the browser
 * never sends the session back, and every login ends in a loop. Behind a
 * TLS-terminating proxy (trust_forwarded_headers on) that is right. */
static bool
ea_server_has_ssl(ngx_conf_t *cf, ngx_http_core_srv_conf_t *cscf)
{
#if (NGX_HTTP_SSL)
    auto *cmcf = static_cast<ngx_http_core_main_conf_t *>(
        ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));
    if (cmcf->ports == NULL) {
        return false;
    }
    auto *ports = static_cast<ngx_http_conf_port_t *>(cmcf->ports->elts);
    for (ngx_uint_t i = 0; i < cmcf->ports->nelts; i++) {
        auto *addrs = static_cast<ngx_http_conf_addr_t *>(ports[i].addrs.elts);
        for (ngx_uint_t j = 0; j < ports[i].addrs.nelts; j++) {
            if (!addrs[j].opt.ssl) {
                continue;
            }
            auto **servers = static_cast<ngx_http_core_srv_conf_t **>(addrs[j].servers.elts);
            for (ngx_uint_t k = 0; k < addrs[j].servers.nelts; k++) {
                if (servers[k] == cscf) {
                    return true;
                }
            }
        }
    }
#endif
    return false;
}


static void
ea_oidc_warn_plain_http(ngx_conf_t *cf, EaOidcProvider *p, ea_oidc_ref_t *ref,
    std::vector<std::pair<EaOidcProvider *, void *>> *warned)
{
    if (!p->cookie.secure || p->trust_forwarded || ref->cscf == NULL) {
        return;
    }
    for (const auto &w : *warned) {
        if (w.first == p && w.second == ref->cscf) {
            return;  /* once per provider and server */
        }
    }
    warned->emplace_back(p, ref->cscf);
    if (ea_server_has_ssl(cf, ref->cscf)) {
        return;
    }
    ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                  "edge_auth_oidc_provider \"%s\" sets Secure cookies (cookie_secure on, "
                  "the default) but the server of edge_auth_oidc in %V:%ui has no ssl "
                  "listen: browsers will not send the session back over http; use https, "
                  "\"cookie_secure off\" for plain http, or \"trust_forwarded_headers on\" "
                  "behind a TLS proxy", p->name.c_str(), &ref->file, ref->line);
}


ngx_int_t
ea_oidc_postconfiguration(ngx_conf_t *cf, ea_main_conf_t *mcf)
{
    auto **all = static_cast<EaOidcProvider **>(mcf->oidc_providers->elts);
    for (ngx_uint_t i = 0; i < mcf->oidc_providers->nelts; i++) {
        EaOidcProvider *p = all[i];
        if (mcf->session_secret == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "edge_auth_oidc_provider \"%s\" needs edge_auth_session_secret "
                          "(sessions and login state are encrypted with it) in %V:%ui",
                          p->name.c_str(), &p->conf_file, p->conf_line);
            return NGX_ERROR;
        }
        if (p->store == EaSessionStore::Redis && mcf->redis == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "edge_auth_oidc_provider \"%s\": session_store redis needs "
                          "edge_auth_redis in %V:%ui", p->name.c_str(), &p->conf_file,
                          p->conf_line);
            return NGX_ERROR;
        }
        p->session_key = edge_auth::derive_key(*mcf->session_secret, "edge-auth session v1");
        p->state_key = edge_auth::derive_key(*mcf->session_secret, "edge-auth state v1");
        p->zone = mcf->zone;
    }

    auto *refs = static_cast<ea_oidc_ref_t *>(mcf->oidc_refs->elts);
    std::vector<std::pair<EaOidcProvider *, void *>> warned;
    for (ngx_uint_t i = 0; i < mcf->oidc_refs->nelts; i++) {
        EaOidcProvider *p = ea_oidc_find(mcf, ea_sv(refs[i].name));
        if (p == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "unknown edge_auth_oidc_provider \"%V\" in %V:%ui",
                          &refs[i].name, &refs[i].file, refs[i].line);
            return NGX_ERROR;
        }
        ea_oidc_warn_plain_http(cf, p, &refs[i], &warned);
        refs[i].lcf->oidc = p;
        ea_srv_conf_t *srv = refs[i].srv;
        if (srv->providers == NULL) {
            srv->providers = ngx_array_create(cf->pool, 1, sizeof(EaOidcProvider *));
            if (srv->providers == NULL) {
                return NGX_ERROR;
            }
        }
        auto **have = static_cast<EaOidcProvider **>(srv->providers->elts);
        bool known = false;
        for (ngx_uint_t j = 0; j < srv->providers->nelts; j++) {
            known = known || have[j] == p;
        }
        if (!known) {
            auto **slot = static_cast<EaOidcProvider **>(ngx_array_push(srv->providers));
            if (slot == NULL) {
                return NGX_ERROR;
            }
            *slot = p;
        }
    }
    return NGX_OK;
}


void
ea_oidc_init_process(ea_main_conf_t *mcf)
{
    auto **all = static_cast<EaOidcProvider **>(mcf->oidc_providers->elts);
    for (ngx_uint_t i = 0; i < mcf->oidc_providers->nelts; i++) {
        EaOidcProvider *p = all[i];
        if (!p->needs_discovery()) {
            p->ep = p->configured;
            p->ep.issuer = p->issuer;
            p->ready = true;
        }
    }
}

/* ---- discovery ---------------------------------------------------------- */

static void
ea_oidc_discovered(EaOidcProvider *p, edge_auth::HttpResponse resp)
{
    p->discovering = false;
    std::string error;
    if (resp.ok()) {
        auto doc = edge_auth::parse_discovery(resp.body, p->issuer);
        if (doc) {
            edge_auth::ProviderEndpoints ep = p->configured;
            edge_auth::merge_endpoints(ep, *doc);
            ep.issuer = p->issuer;
            p->ep = std::move(ep);
            if (p->jwks != NULL && !p->ep.jwks_uri.empty()) {
                ea_jwks_set_url(p->jwks, p->ep.jwks_uri, p->timeout_ms, p->ca_file);
            }
            p->ready = true;
            p->discovery_error.clear();
            ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                          "edge_auth: oidc provider \"%s\": discovery of \"%s\" done",
                          p->name.c_str(), p->issuer.c_str());
            ea_wait_wake_all(&p->waiters);
            return;
        }
        error = doc.error();
    } else if (resp.status == 0) {
        error = resp.error;
    } else {
        error = "HTTP " + std::to_string(resp.status);
    }
    p->discovery_error = edge_auth::log_safe(error, 200);
    p->retry_at_ms = ea_now_ms() + 5000;
    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "edge_auth: oidc provider \"%s\": discovery of \"%s\" failed: %s",
                  p->name.c_str(), p->issuer.c_str(), p->discovery_error.c_str());
    ea_wait_wake_all(&p->waiters);
}


ngx_int_t
ea_oidc_ready(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q)
{
    if (p->ready) {
        return NGX_OK;
    }
    if (q->discovery_waited) {
        return NGX_DECLINED;
    }
    if (!p->discovering && ea_now_ms() >= p->retry_at_ms) {
        edge_auth::HttpClient *http = ea_http();
        if (http == NULL) {
            return NGX_DECLINED;
        }
        std::string base = p->issuer;
        while (!base.empty() && base.back() == '/') {
            base.pop_back();
        }
        edge_auth::HttpRequest req;
        req.method = "GET";
        req.url = base + "/.well-known/openid-configuration";
        req.headers.emplace_back("Accept", "application/json");
        edge_auth::HttpOptions opts;
        opts.timeout_ms = p->timeout_ms;
        opts.ca_file = p->ca_file;
        p->discovering = true;
        http->send(std::move(req), opts, [p](edge_auth::HttpResponse resp) {
            ea_oidc_discovered(p, std::move(resp));
        });
    } else if (!p->discovering) {
        return NGX_DECLINED;  /* failed a moment ago: not again yet */
    }
    q->discovery_waited = true;
    return ea_wait_park(r, &p->waiters, static_cast<ngx_msec_t>(p->timeout_ms + 1000), NULL);
}

/* ---- per-request state and outbound calls ------------------------------- */

static void
ea_oidc_request_cleanup(void *data) noexcept
{
    delete static_cast<EaOidcRequest *>(data);
}


EaOidcRequest *
ea_oidc_request(ngx_http_request_t *r, ea_ctx_t *ctx)
{
    if (ctx->oidc != NULL) {
        return static_cast<EaOidcRequest *>(ctx->oidc);
    }
    ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(r->main->pool, 0);
    if (cln == NULL) {
        throw std::bad_alloc();
    }
    auto *q = new EaOidcRequest();
    cln->handler = ea_oidc_request_cleanup;
    cln->data = q;
    ctx->oidc = q;
    return q;
}


ngx_int_t
ea_oidc_http(ngx_http_request_t *r, EaOidcRequest *q, edge_auth::HttpRequest req,
    int64_t timeout_ms, const std::string &ca_file)
{
    if (q->call) {
        if (!q->call->done) {
            q->call->done = true;  /* our deadline passed first */
            q->call->http.status = 0;
            q->call->http.error = "timeout";
        }
        return NGX_OK;
    }
    edge_auth::HttpClient *http = ea_http();
    q->call = std::make_shared<EaOidcCall>();
    if (http == NULL) {
        q->call->done = true;
        q->call->http.error = "no HTTP client";
        return NGX_OK;
    }
    edge_auth::HttpOptions opts;
    opts.timeout_ms = timeout_ms;
    opts.ca_file = ca_file;
    std::weak_ptr<EaOidcCall> weak = q->call;
    http->send(std::move(req), opts, [weak](edge_auth::HttpResponse resp) {
        if (auto call = weak.lock()) {
            if (!call->done) {
                call->done = true;
                call->http = std::move(resp);
                ea_wait_wake_all(&call->list);
            }
        }
    });
    return ea_wait_park(r, &q->call->list, static_cast<ngx_msec_t>(timeout_ms + 1000),
                        &q->call->timed_out);
}


ngx_int_t
ea_oidc_redis(ngx_http_request_t *r, EaOidcRequest *q, std::vector<std::string> args)
{
    if (q->call) {
        if (!q->call->done) {
            q->call->done = true;
            q->call->redis.ok = false;
        }
        return NGX_OK;
    }
    q->call = std::make_shared<EaOidcCall>();
    if (!ea_redis_enabled()) {
        q->call->done = true;
        return NGX_OK;
    }
    std::weak_ptr<EaOidcCall> weak = q->call;
    ea_redis_command(std::move(args), [weak](ea_redis_reply_t reply) {
        if (auto call = weak.lock()) {
            if (!call->done) {
                call->done = true;
                call->redis = std::move(reply);
                ea_wait_wake_all(&call->list);
            }
        }
    });
    if (q->call->done) {
        return NGX_OK;  /* answered at once (Redis known to be down) */
    }
    ea_main_conf_t *mcf = ea_main_conf(r);
    return ea_wait_park(r, &q->call->list,
                        static_cast<ngx_msec_t>(mcf->redis->timeout + 1000),
                        &q->call->timed_out);
}

/* ---- cookies ------------------------------------------------------------ */

const std::vector<std::pair<std::string_view, std::string_view>> &
ea_oidc_cookies(ngx_http_request_t *r, EaOidcRequest *q)
{
    if (q->cookies_parsed) {
        return q->cookies;
    }
    /* one Cookie header is viewed where nginx keeps it (for the whole
     * request); several are joined into cookie_text */
    std::string &text = q->cookie_text;
    std::string_view first;
    int found = 0;
    for (ngx_list_part_t *part = &r->headers_in.headers.part; part; part = part->next) {
        auto *h = static_cast<ngx_table_elt_t *>(part->elts);
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            if (h[i].hash != 0 && h[i].key.len == 6
                && ngx_strncasecmp(h[i].key.data, (u_char *) "cookie", 6) == 0)
            {
                if (found++ == 0) {
                    first = ea_sv(h[i].value);
                    continue;
                }
                if (found == 2) {
                    text.assign(first);
                }
                text += "; ";
                text += ea_sv(h[i].value);
            }
        }
    }
    q->cookies = edge_auth::parse_cookies(found > 1 ? std::string_view(text) : first);
    q->cookies_parsed = true;
    return q->cookies;
}


/* NAME or NAME_<digits>: a session cookie or one of its chunks. */
static bool
ea_is_session_cookie(std::string_view cookie, std::string_view name)
{
    if (cookie.substr(0, name.size()) != name) {
        return false;
    }
    std::string_view rest = cookie.substr(name.size());
    if (rest.empty()) {
        return true;
    }
    if (rest.size() < 2 || rest[0] != '_') {
        return false;
    }
    return std::all_of(rest.begin() + 1, rest.end(),
                       [](char c) { return c >= '0' && c <= '9'; });
}


static bool
ea_is_state_cookie(std::string_view cookie, std::string_view name)
{
    return cookie.size() > name.size() + 4 && cookie.substr(0, name.size()) == name
           && cookie.substr(name.size(), 4) == "_st_";
}


bool
ea_oidc_has_session_cookie(ngx_http_request_t *r, EaOidcProvider *p, ea_ctx_t *ctx)
{
    for (const auto &c : ea_oidc_cookies(r, ea_oidc_request(r, ctx))) {
        if (ea_is_session_cookie(c.first, p->cookie.name)) {
            return true;
        }
    }
    return false;
}


static edge_auth::CookieAttributes
ea_oidc_cookie(EaOidcProvider *p, const Session *s)
{
    edge_auth::CookieAttributes a = p->cookie;
    if (s != NULL) {
        int64_t left = s->created_at + p->policy.lifetime - ea_now_s();
        a.max_age = left > 0 ? left : 0;
    }
    return a;
}


/* Set-Cookie values that write `value` as the session cookie (or delete it
 * when empty), deleting any chunk the browser has that is not rewritten. */
static void
ea_oidc_queue_session_cookie(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q,
    std::string_view value, const Session *s)
{
    std::vector<std::string_view> present;
    for (const auto &c : ea_oidc_cookies(r, q)) {
        if (ea_is_session_cookie(c.first, p->cookie.name)) {
            present.push_back(c.first);
        }
    }
    for (std::string &h : edge_auth::session_set_cookies(ea_oidc_cookie(p, s), value, present)) {
        q->set_cookies.push_back(std::move(h));
    }
}

/* ---- sessions ----------------------------------------------------------- */

static edge_auth::Digest
ea_session_zone_key(EaOidcProvider *p, std::string_view id)
{
    return edge_auth::sha256("edge-auth oidc session\n" + p->name + "\n" + std::string(id));
}


static edge_auth::Digest
ea_oidc_id_token_key(EaOidcProvider *p, std::string_view id)
{
    return edge_auth::sha256("edge-auth oidc id_token\n" + p->name + "\n" + std::string(id));
}


std::string
ea_oidc_id_token(EaOidcProvider *p, const Session &s)
{
    std::string id_token = s.id_token;
    if (id_token.empty() && p->store == EaSessionStore::Cookie) {
        (void) ea_zone_get(p->zone, ea_oidc_id_token_key(p, s.id), &id_token);
    }
    return id_token;
}


static std::string
ea_redis_key(ngx_http_request_t *r, const char *kind, const std::string &what)
{
    ea_main_conf_t *mcf = ea_main_conf(r);
    edge_auth::Digest d = edge_auth::sha256(what);
    return mcf->redis->prefix + kind
           + edge_auth::to_hex(std::string_view(reinterpret_cast<const char *>(d.data()),
                                                d.size()));
}


std::string
ea_oidc_session_key(ngx_http_request_t *r, EaOidcProvider *p, std::string_view id)
{
    return ea_redis_key(r, "session:", "edge-auth oidc session\n" + p->name + "\n"
                                           + std::string(id));
}


std::string
ea_oidc_index_key(ngx_http_request_t *r, EaOidcProvider *p, std::string_view kind,
    std::string_view value)
{
    return ea_redis_key(r, "oidc-index:", "edge-auth oidc index\n" + p->name + "\n"
                                              + std::string(kind) + "\n" + std::string(value));
}


ngx_shm_zone_t *
ea_oidc_zone(EaOidcProvider *p)
{
    return p->zone;
}


edge_auth::Digest
ea_oidc_ended_key(EaOidcProvider *p, std::string_view kind, std::string_view value)
{
    return edge_auth::sha256("edge-auth oidc ended\n" + p->name + "\n" + std::string(kind)
                             + "\n" + std::string(value));
}


static bool
ea_session_id_syntax(std::string_view id)
{
    return id.size() == 43
           && std::all_of(id.begin(), id.end(), [](char c) {
                  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                         || (c >= '0' && c <= '9') || c == '-' || c == '_';
              });
}


/* Sign-out and back-channel logout leave markers in the zone: the session
 * id, or the OP's sid, or every session of a sub created before a time. */
static bool
ea_session_ended(EaOidcProvider *p, const Session &s)
{
    if (ea_zone_get(p->zone, ea_oidc_ended_key(p, "id", s.id), NULL)) {
        return true;
    }
    if (!ea_zone_get(p->zone, ea_oidc_ended_key(p, "any", ""), NULL)) {
        return false;  /* no back-channel logout happened recently */
    }
    if (!s.sid.empty() && ea_zone_get(p->zone, ea_oidc_ended_key(p, "sid", s.sid), NULL)) {
        return true;
    }
    std::string when;
    if (!s.sub.empty() && ea_zone_get(p->zone, ea_oidc_ended_key(p, "sub", s.sub), &when)) {
        return s.created_at <= std::strtoll(when.c_str(), NULL, 10);
    }
    return false;
}


/* Decrypting and decoding a session is most of its cost per request; the
 * same sealed bytes always open to the same session, so each worker keeps
 * the last ones it opened (bounded; cleared when full) and requests share
 * them. Expiry is checked on every request, the ended markers whenever one
 * was written since the last check. */
static EaOidcProvider::Opened *
ea_open_session_cached(EaOidcProvider *p, std::string_view sealed, std::string_view aad,
    std::string *why)
{
    auto it = p->opened.find(sealed);  /* a string_view: no copy of the cookie */
    if (it != p->opened.end() && it->second->aad == aad) {
        return it->second.get();
    }
    edge_auth::Result<Session> s = edge_auth::open_session(p->session_key, sealed, aad);
    if (!s) {
        *why = s.error();
        return NULL;
    }
    if (it != p->opened.end()) {
        p->opened.erase(it);  /* its key views the entry it owns */
    }
    if (p->opened.size() >= 1024) {
        p->opened.clear();
    }
    auto entry = std::make_unique<EaOidcProvider::Opened>();
    entry->sealed.assign(sealed);
    entry->aad.assign(aad);
    entry->session = std::make_shared<Session>(std::move(*s));
    EaOidcProvider::Opened *opened = entry.get();
    std::string_view key = entry->sealed;
    p->opened.emplace(key, std::move(entry));
    return opened;
}


static ngx_atomic_t *
ea_oidc_ended_generation(EaOidcProvider *p)
{
    if (!p->ended_generation_looked_up) {
        p->ended_generation_looked_up = true;
        /* a series the exposition skips (its metric is past the known ones) */
        p->ended_generation = ea_zone_series(p->zone, EA_SERIES_OIDC_ENDED, p->name);
    }
    return p->ended_generation;
}


void
ea_oidc_markers_written(EaOidcProvider *p)
{
    ngx_atomic_t *generation = ea_oidc_ended_generation(p);
    if (generation != NULL) {
        (void) ngx_atomic_fetch_add(generation, 1);
    }
}


/* The ended markers are read when one was written since this worker last
 * found the session live (read the generation first: a marker written
 * during the check moves it again). */
static bool
ea_session_ended_cached(EaOidcProvider *p, EaOidcProvider::Opened *opened)
{
    ngx_atomic_t *generation = ea_oidc_ended_generation(p);
    if (generation == NULL) {
        return ea_session_ended(p, *opened->session);
    }
    ngx_atomic_uint_t now = *generation;
    ngx_memory_barrier();
    if (opened->live_checked && opened->live_at == now) {
        return false;
    }
    if (ea_session_ended(p, *opened->session)) {
        return true;
    }
    opened->live_checked = true;
    opened->live_at = now;
    return false;
}


Session &
ea_oidc_own_session(EaOidcRequest *q)
{
    if (q->session.use_count() > 1) {
        q->session = std::make_shared<Session>(*q->session);
    }
    return *q->session;
}


ngx_int_t
ea_oidc_load_session(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q)
{
    if (q->session_loaded) {
        return NGX_OK;
    }
    /* the whole cookie, or its chunks joined */
    std::string_view value;
    std::optional<std::string> joined;
    for (const auto &c : ea_oidc_cookies(r, q)) {
        if (c.first == p->cookie.name) {
            value = c.second;
            break;
        }
    }
    if (value.empty()) {
        joined = edge_auth::join_chunks(ea_oidc_cookies(r, q), p->cookie.name);
        if (joined) {
            value = *joined;
        }
    }
    if (value.empty()) {
        q->session_loaded = true;
        return NGX_OK;
    }

    EaOidcProvider::Opened *opened = NULL;
    std::string why;  /* empty: not found */
    switch (p->store) {
    case EaSessionStore::Cookie:
        opened = ea_open_session_cached(p, value, p->cookie.name, &why);
        break;
    case EaSessionStore::Shm: {
        std::string sealed;
        if (ea_session_id_syntax(value)
            && ea_zone_get(p->zone, ea_session_zone_key(p, value), &sealed))
        {
            opened = ea_open_session_cached(p, sealed, value, &why);
        }
        break;
    }
    case EaSessionStore::Redis: {
        if (!ea_session_id_syntax(value)) {
            why = "session cookie invalid";
            break;
        }
        ngx_int_t rc = ea_oidc_redis(r, q, {"GET", ea_oidc_session_key(r, p, value)});
        if (rc != NGX_OK) {
            return rc;
        }
        ea_redis_reply_t reply = std::move(q->call->redis);
        q->call.reset();
        if (!reply.ok) {
            q->store_down = true;
            q->session_loaded = true;
            ea_oidc_log(r, NGX_LOG_ERR, p, "session store unavailable", "redis");
            ea_send(r, NGX_HTTP_SERVICE_UNAVAILABLE, "503 session store unavailable\n");
            return NGX_DONE;
        }
        if (reply.value) {
            opened = ea_open_session_cached(p, *reply.value, value, &why);
        }
        break;
    }
    }
    q->session_loaded = true;

    if (opened == NULL) {
        ea_oidc_log(r, NGX_LOG_INFO, p, "session cookie not accepted",
                    why.empty() ? "session not found" : why);
        return NGX_OK;
    }
    if (opened->session->provider != p->name) {
        ea_oidc_log(r, NGX_LOG_INFO, p, "session cookie not accepted",
                    "made by another provider");
        return NGX_OK;
    }
    if (ea_session_ended_cached(p, opened)) {
        ea_oidc_log(r, NGX_LOG_INFO, p, "session ended", "signed out or logged out");
        return NGX_OK;
    }
    q->session = opened->session;
    return NGX_OK;
}


ngx_int_t
ea_oidc_save_session(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q)
{
    Session &s = ea_oidc_own_session(q);
    int64_t left = s.created_at + p->policy.lifetime - ea_now_s();
    if (left <= 0) {
        left = 1;
    }
    switch (p->store) {
    case EaSessionStore::Cookie: {
        /* The cookie travels with every request, so it leaves out what no
         * request reads: the ID token (only sign-out's id_token_hint uses
         * it) waits in the zone, and the access token stays out unless
         * pass_access_token sends it upstream. */
        if (!s.id_token.empty()) {
            ea_zone_set(p->zone, ea_oidc_id_token_key(p, s.id), s.id_token,
                        static_cast<ngx_msec_t>(left * 1000));
        }
        Session lean = s;
        lean.id_token.clear();
        if (!p->pass_access_token) {
            lean.access_token.clear();
        }
        std::string sealed = edge_auth::seal_session(p->session_key, lean, p->cookie.name);
        ea_oidc_queue_session_cookie(r, p, q, sealed, &s);
        return NGX_OK;
    }
    case EaSessionStore::Shm:
        ea_zone_set(p->zone, ea_session_zone_key(p, s.id),
                    edge_auth::seal_session(p->session_key, s, s.id),
                    static_cast<ngx_msec_t>(left * 1000));
        ea_oidc_queue_session_cookie(r, p, q, s.id, &s);
        return NGX_OK;
    case EaSessionStore::Redis: {
        ngx_int_t rc = ea_oidc_redis(r, q, {"SET", ea_oidc_session_key(r, p, s.id),
                                            edge_auth::seal_session(p->session_key, s, s.id),
                                            "PX", std::to_string(left * 1000)});
        if (rc != NGX_OK) {
            return rc;
        }
        bool ok = q->call->redis.ok;
        q->call.reset();
        if (!ok) {
            q->store_down = true;
            ea_oidc_log(r, NGX_LOG_ERR, p, "session store unavailable", "redis");
            return NGX_ERROR;
        }
        ea_oidc_queue_session_cookie(r, p, q, s.id, &s);
        return NGX_OK;
    }
    }
    return NGX_OK;
}


void
ea_oidc_end_session(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q)
{
    if (q->session) {
        p->count(p->ended, "ended");
        const Session &s = *q->session;
        int64_t left = s.created_at + p->policy.lifetime - ea_now_s();
        if (left > 0) {
            /* other copies of a cookie session stay unusable */
            ea_zone_set(p->zone, ea_oidc_ended_key(p, "id", s.id), "1",
                        static_cast<ngx_msec_t>(left * 1000));
            ea_oidc_markers_written(p);
        }
        if (p->store == EaSessionStore::Cookie) {
            ea_zone_delete(p->zone, ea_oidc_id_token_key(p, s.id));
        } else if (p->store == EaSessionStore::Shm) {
            ea_zone_delete(p->zone, ea_session_zone_key(p, s.id));
        } else if (p->store == EaSessionStore::Redis && ea_redis_enabled()) {
            ea_redis_command({"DEL", ea_oidc_session_key(r, p, s.id)},
                             [](ea_redis_reply_t) {});
        }
    }
    ea_oidc_queue_session_cookie(r, p, q, "", NULL);
}

/* ---- responses ---------------------------------------------------------- */

std::string
ea_oidc_origin(ngx_http_request_t *r, EaOidcProvider *p)
{
    std::string scheme = "http";
#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        scheme = "https";
    }
#endif
    std::string host;
    if (r->headers_in.host != NULL) {
        host.assign(ea_sv(r->headers_in.host->value));
    }
    if (p->trust_forwarded) {
        static ngx_str_t proto_name = ngx_string("x-forwarded-proto");
        static ngx_str_t host_name = ngx_string("x-forwarded-host");
        for (ngx_list_part_t *part = &r->headers_in.headers.part; part; part = part->next) {
            auto *h = static_cast<ngx_table_elt_t *>(part->elts);
            for (ngx_uint_t i = 0; i < part->nelts; i++) {
                std::string_view v = ea_sv(h[i].value);
                v = v.substr(0, v.find(','));
                while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
                if (h[i].key.len == proto_name.len
                    && ngx_strncasecmp(h[i].key.data, proto_name.data, proto_name.len) == 0
                    && (v == "http" || v == "https"))
                {
                    scheme.assign(v);
                } else if (h[i].key.len == host_name.len
                           && ngx_strncasecmp(h[i].key.data, host_name.data,
                                              host_name.len) == 0 && !v.empty())
                {
                    host.assign(v);
                }
            }
        }
    }
    bool valid = !host.empty() && host.size() < 256
                 && std::all_of(host.begin(), host.end(), [](char c) {
                        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                               || (c >= '0' && c <= '9') || c == '-' || c == '.'
                               || c == ':' || c == '[' || c == ']';
                    });
    if (!valid) {
        ngx_http_core_srv_conf_t *cscf = static_cast<ngx_http_core_srv_conf_t *>(
            ngx_http_get_module_srv_conf(r, ngx_http_core_module));
        host.assign(ea_sv(cscf->server_name));
    }
    return scheme + "://" + host;
}


ngx_int_t
ea_oidc_send(ngx_http_request_t *r, EaOidcRequest *q, ngx_uint_t status,
    std::string_view body, std::string_view location, std::string_view content_type)
{
    for (const std::string &c : q->set_cookies) {
        if (ea_add_header_out(r, "Set-Cookie", c) == NULL) {
            return ea_send(r, NGX_HTTP_INTERNAL_SERVER_ERROR, "500 Internal Server Error\n");
        }
    }
    q->set_cookies.clear();
    if (!location.empty()) {
        if (!edge_auth::is_safe_header_value(location)
            || ea_add_header_out(r, "Location", location) == NULL)
        {
            return ea_send(r, NGX_HTTP_INTERNAL_SERVER_ERROR, "500 Internal Server Error\n");
        }
    }
    return ea_send(r, status, body, content_type);
}


ngx_int_t
ea_oidc_login_redirect(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q,
    std::string_view return_to)
{
    ngx_int_t rc = ea_oidc_ready(r, p, q);
    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }
    if (rc != NGX_OK) {
        ea_oidc_log(r, NGX_LOG_ERR, p, "login impossible: provider unavailable",
                    p->discovery_error);
        return ea_oidc_send(r, q, NGX_HTTP_BAD_GATEWAY,
                            "502 identity provider unavailable\n");
    }

    /* at most three logins in progress per browser: drop the oldest */
    std::vector<std::string_view> states;
    for (const auto &c : ea_oidc_cookies(r, q)) {
        if (ea_is_state_cookie(c.first, p->cookie.name)) {
            states.push_back(c.first);
        }
    }
    std::sort(states.begin(), states.end());
    states.erase(std::unique(states.begin(), states.end()), states.end());
    edge_auth::CookieAttributes state = p->cookie;
    state.domain.clear();
    if (state.same_site == "Strict") {
        state.same_site = "Lax";  /* it must come back with the OP's redirect */
    }
    for (size_t i = 0; i + 2 < states.size(); i++) {
        state.name.assign(states[i]);
        state.max_age = 0;
        q->set_cookies.push_back(edge_auth::set_cookie_header(state, ""));
    }

    edge_auth::LoginRequest login = edge_auth::new_login(
        edge_auth::safe_return_url(return_to, p->redirect_hosts), ea_now_s());
    state.name = edge_auth::state_cookie_name(p->cookie.name, login.state);
    state.max_age = 600;
    q->set_cookies.push_back(edge_auth::set_cookie_header(
        state, edge_auth::seal_state(p->state_key, login, state.name)));

    std::string redirect_uri = ea_oidc_origin(r, p) + p->prefix + "/callback";
    std::string url = edge_auth::authorization_url(p->ep, p->client, login, redirect_uri);
    return ea_oidc_send(r, q, NGX_HTTP_MOVED_TEMPORARILY, "302 Found\n", url);
}

/* ---- the `oidc` access method ------------------------------------------- */

static edge_auth::Digest
ea_oidc_refreshed_key(EaOidcProvider *p, std::string_view id)
{
    return edge_auth::sha256("edge-auth oidc refreshed\n" + p->name + "\n" + std::string(id));
}


static std::string
ea_oidc_refresh_lock_key(ngx_http_request_t *r, EaOidcProvider *p, std::string_view id)
{
    return ea_redis_key(r, "oidc-refresh:", "edge-auth oidc refresh\n" + p->name + "\n"
                                                + std::string(id));
}


/* With Redis, one refresh per session across the nodes too: SET NX elects
 * the node that redeems the refresh token (a rotated one must never be
 * redeemed twice); the others read the session again until it changed.
 * NGX_DECLINED: this node refreshes; NGX_OK: another node did (q->session
 * is its result), or it took too long and the token is still valid;
 * NGX_ABORT: it took too long and the token expired; NGX_AGAIN: waiting. */
static ngx_int_t
ea_oidc_redis_refresh_lock(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q,
    const edge_auth::Digest &zone_lock)
{
    Session &s = ea_oidc_own_session(q);
    if (q->redis_lock == 0) {
        ngx_int_t rc = ea_oidc_redis(r, q, {"SET", ea_oidc_refresh_lock_key(r, p, s.id),
                                            std::to_string(ngx_pid), "NX", "PX",
                                            std::to_string(p->timeout_ms + 2000)});
        if (rc != NGX_OK) {
            return rc;
        }
        ea_redis_reply_t reply = std::move(q->call->redis);
        q->call.reset();
        /* Redis down: refresh here (the session cannot be saved there anyway) */
        q->redis_lock = !reply.ok || (reply.value && *reply.value == "OK") ? 1 : 2;
        if (!reply.ok) {
            return NGX_DECLINED;
        }
    }

    /* Read the session again: another node may have refreshed it just
     * before we took the lock, or does so now (then every 100 ms). */
    if (q->redis_poll_due || !q->redis_checked) {
        ngx_int_t rc = ea_oidc_redis(r, q, {"GET", ea_oidc_session_key(r, p, s.id)});
        if (rc != NGX_OK) {
            return rc;
        }
        ea_redis_reply_t reply = std::move(q->call->redis);
        q->call.reset();
        q->redis_poll_due = 0;
        q->redis_checked = true;
        if (reply.ok && reply.value) {
            auto fresh = edge_auth::open_session(p->session_key, *reply.value, s.id);
            if (fresh && fresh->access_expires_at > s.access_expires_at) {
                s = std::move(*fresh);
                /* this node's other requests of the session take it too */
                ea_zone_set(p->zone, ea_oidc_refreshed_key(p, s.id),
                            edge_auth::seal_session(p->session_key, s, "refreshed:" + s.id),
                            60 * 1000);
                ea_zone_delete(p->zone, zone_lock);
                if (q->redis_lock == 1) {
                    ea_redis_command({"DEL", ea_oidc_refresh_lock_key(r, p, s.id)},
                                     [](ea_redis_reply_t) {});
                }
                q->refresh_owner = false;
                return NGX_OK;
            }
        }
    }
    if (q->redis_lock == 1) {
        return NGX_DECLINED;
    }
    if (++q->redis_polls > (p->timeout_ms + 2000) / 100) {
        ea_zone_delete(p->zone, zone_lock);
        q->refresh_owner = false;
        bool valid = s.access_expires_at == 0 || s.access_expires_at > ea_now_s();
        return valid ? NGX_OK : NGX_ABORT;
    }
    return ea_wait_park(r, &q->refresh_wait, 100, &q->redis_poll_due);
}


/* Refresh the access token: one refresh per session at a time across the
 * workers (a zone marker); the others wait for its result, which is left in
 * the zone for a minute so that requests still carrying the old cookie use
 * it instead of redeeming a rotated refresh token twice.
 * NGX_OK (q->session current), NGX_DECLINED (the session is over), NGX_AGAIN. */
static ngx_int_t
ea_oidc_refresh(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q)
{
    Session &s = ea_oidc_own_session(q);
    std::string idn = s.id;
    edge_auth::Digest lock = edge_auth::sha256("edge-auth oidc refresh\n" + p->name + "\n" + idn);
    edge_auth::Digest done = ea_oidc_refreshed_key(p, idn);
    std::string aad = "refreshed:" + idn;
    bool still_valid = s.access_expires_at == 0 || s.access_expires_at > ea_now_s();

    if (!q->refresh_owner) {
        std::string sealed;
        if (ea_zone_get(p->zone, done, &sealed)) {
            auto fresh = edge_auth::open_session(p->session_key, sealed, aad);
            if (fresh && fresh->access_expires_at > s.access_expires_at) {
                *q->session = std::move(*fresh);
                if (p->store == EaSessionStore::Cookie) {
                    ea_oidc_save_session(r, p, q);
                }
                return NGX_OK;
            }
        }
        if (q->refresh_waited) {
            return still_valid ? NGX_OK : NGX_DECLINED;
        }
        if (!ea_zone_add(p->zone, lock, std::to_string(ngx_pid),
                         static_cast<ngx_msec_t>(p->timeout_ms + 2000)))
        {
            /* another worker refreshes this session: wait for its result */
            q->refresh_waited = true;
            ngx_shm_zone_t *zone = p->zone;
            q->refresh_wait.poll = [zone, lock, done]() {
                return ea_zone_get(zone, done, NULL) || !ea_zone_get(zone, lock, NULL);
            };
            return ea_wait_park(r, &q->refresh_wait,
                                static_cast<ngx_msec_t>(p->timeout_ms + 1000), NULL);
        }
        q->refresh_owner = true;
        /* an older result must not wake this refresh's waiters */
        ea_zone_delete(p->zone, done);
    }

    if (p->store == EaSessionStore::Redis) {
        ngx_int_t rc = ea_oidc_redis_refresh_lock(r, p, q, lock);
        if (rc == NGX_ABORT) {
            return NGX_DECLINED;
        }
        if (rc != NGX_DECLINED) {
            return rc;  /* waiting for another node, or its result is here */
        }
    }

    ngx_int_t rc = ea_oidc_http(r, q, edge_auth::build_refresh_request(
                                    p->ep, p->client, s.refresh_token),
                                p->timeout_ms, p->ca_file);
    if (rc != NGX_OK) {
        return rc;
    }
    edge_auth::TokenSetResult t = edge_auth::parse_token_set(q->call->http, ea_now_s());
    q->call.reset();
    q->refresh_owner = false;

    if (!t.ok) {
        ea_zone_delete(p->zone, lock);
        ea_oidc_log(r, NGX_LOG_WARN, p, "token refresh failed", t.error);
        if (t.retryable && still_valid) {
            return NGX_OK;  /* the current token still works: try next time */
        }
        ea_oidc_end_session(r, p, q);
        q->session.reset();
        return NGX_DECLINED;
    }
    edge_auth::apply_refresh(s, t, ea_now_s());
    p->count(p->refreshed, "refreshed");
    ea_zone_set(p->zone, done, edge_auth::seal_session(p->session_key, s, aad), 60 * 1000);
    ea_zone_delete(p->zone, lock);
    ea_log(r, NGX_LOG_INFO,
                  "edge_auth: oidc provider \"%s\": session access token refreshed",
                  p->name.c_str());
    rc = ea_oidc_save_session(r, p, q);
    if (q->redis_lock == 1) {
        /* after the SET of the session on the same connection: a node
         * that takes the lock next reads the refreshed session */
        ea_redis_command({"DEL", ea_oidc_refresh_lock_key(r, p, idn)}, [](ea_redis_reply_t) {});
        q->redis_lock = 0;
    }
    if (rc == NGX_AGAIN) {
        q->save_pending = true;
        return NGX_AGAIN;
    }
    return NGX_OK;
}


static bool
ea_oidc_rules_hold(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx,
    EaOidcRequest *q)
{
    if (lcf->rules == NULL) {
        return true;
    }
    if (!q->claims) {
        auto c = edge_auth::Claims::from_json(q->session->claims);
        if (!c) {
            return false;
        }
        q->claims = std::move(*c);
    }
    auto **rules = static_cast<edge_auth::ClaimRule **>(lcf->rules->elts);
    for (ngx_uint_t i = 0; i < lcf->rules->nelts; i++) {
        if (!rules[i]->holds(*q->claims)) {
            std::string d = "claim rule failed: " + rules[i]->describe();
            ngx_str_t detail;
            if (ea_pstr(r->pool, edge_auth::log_safe(d, 200), &detail) == NGX_OK) {
                ctx->detail = detail;
            }
            return false;
        }
    }
    return true;
}


static ngx_int_t ea_oidc_accept(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx,
    EaOidcRequest *q);


ngx_int_t
ea_oidc_authenticate(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx)
{
    EaOidcProvider *p = lcf->oidc;
    EaOidcRequest *q = ea_oidc_request(r, ctx);

    ngx_int_t rc = ea_oidc_load_session(r, p, q);
    if (rc != NGX_OK) {
        return rc;
    }
    if (!q->session) {
        ctx->status = edge_auth::AuthStatus::NoCredential;
        return NGX_DECLINED;
    }
    if (q->save_pending) {
        /* a refreshed or touched session went to Redis while we waited */
        rc = ea_oidc_save_session(r, p, q);
        if (rc == NGX_AGAIN) {
            return rc;
        }
        q->save_pending = false;
        return ea_oidc_accept(r, lcf, ctx, q);
    }

    int64_t now = ea_now_s();
    const Session &s = *q->session;
    SessionState st = edge_auth::session_state(s, now, p->policy, p->pass_access_token);
    if (st == SessionState::NeedsRefresh && !p->refresh) {
        st = s.access_expires_at != 0 && s.access_expires_at <= now && p->pass_access_token
                 ? SessionState::Expired : SessionState::Valid;
    }
    if (st == SessionState::NeedsRefresh && !s.refresh_token.empty()) {
        /* this worker may not have the discovery document yet: wait for it */
        rc = ea_oidc_ready(r, p, q);
        if (rc == NGX_AGAIN || rc == NGX_ERROR) {
            return rc;
        }
    }
    if (st == SessionState::NeedsRefresh && !s.refresh_token.empty() && rc == NGX_OK) {
        rc = ea_oidc_refresh(r, p, q);
        if (rc == NGX_AGAIN) {
            return rc;
        }
        if (rc == NGX_DECLINED) {
            ctx->status = edge_auth::AuthStatus::NoCredential;
            return NGX_DECLINED;
        }
    } else if (st == SessionState::Expired) {
        ea_oidc_log(r, NGX_LOG_INFO, p, "session expired", "");
        p->count(p->ended, "ended");
        q->session.reset();
        ea_oidc_queue_session_cookie(r, p, q, "", NULL);
        ctx->status = edge_auth::AuthStatus::NoCredential;
        return NGX_DECLINED;
    } else if (st == SessionState::Touch) {
        ea_oidc_own_session(q).last_seen = now;
        rc = ea_oidc_save_session(r, p, q);
        if (rc == NGX_AGAIN) {
            q->save_pending = true;
            return rc;
        }
    }
    return ea_oidc_accept(r, lcf, ctx, q);
}


/* The session is valid: the identity of the request. */
static ngx_int_t
ea_oidc_accept(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx, EaOidcRequest *q)
{
    const Session &cur = *q->session;
    ctx->session = q->session.get();
    if (ea_pstr(r->pool, cur.user, &ctx->user) != NGX_OK) {
        return NGX_ERROR;
    }
    if (!ea_oidc_rules_hold(r, lcf, ctx, q)) {
        ctx->status = edge_auth::AuthStatus::Forbidden;
        return NGX_DECLINED;
    }
    ctx->status = edge_auth::AuthStatus::Ok;
    return NGX_OK;
}


ngx_int_t
ea_oidc_unauthenticated(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx)
{
    EaOidcProvider *p = lcf->oidc;
    EaOidcRequest *q = ea_oidc_request(r, ctx);
    bool redirect = p->unauth == EaUnauthAction::Redirect;
    if (p->unauth == EaUnauthAction::Auto) {
        auto header = [r](const char *lowcase) -> std::string_view {
            size_t len = ngx_strlen(lowcase);
            for (ngx_list_part_t *part = &r->headers_in.headers.part; part; part = part->next) {
                auto *h = static_cast<ngx_table_elt_t *>(part->elts);
                for (ngx_uint_t i = 0; i < part->nelts; i++) {
                    if (h[i].key.len == len
                        && ngx_strncasecmp(h[i].key.data, (u_char *) lowcase, len) == 0)
                    {
                        return h[i].value.len ? ea_sv(h[i].value) : std::string_view(" ");
                    }
                }
            }
            return {};
        };
        redirect = edge_auth::wants_login_redirect(ea_sv(r->method_name),
                                                   header("x-requested-with"),
                                                   header("sec-fetch-mode"), header("accept"));
    }
    if (!redirect) {
        ctx->status = edge_auth::AuthStatus::NoCredential;
        return NGX_DECLINED;
    }
    return ea_oidc_login_redirect(r, p, q, ea_sv(r->unparsed_uri));
}

/* ---- identity upstream -------------------------------------------------- */

bool
ea_oidc_claim_of(const Session &s, std::string_view name, std::string *buf)
{
    if (name == "email") {
        *buf = s.email;
    } else if (name == "groups") {
        buf->clear();
        for (const std::string &g : s.groups) {
            if (!buf->empty()) *buf += ',';
            *buf += g;
        }
    } else if (name == "sub") {
        *buf = s.sub;
    } else if (name == "preferred_username") {
        *buf = s.preferred_username;
    } else if (name == "name") {
        *buf = s.name;
    } else if (name == "picture") {
        *buf = s.picture;
    } else {
        return false;
    }
    return true;
}


std::string_view
ea_oidc_claim(ea_ctx_t *ctx, std::string_view name, std::string *buf)
{
    const Session *s = static_cast<const Session *>(ctx->session);
    /* the session's own fields are viewed, not copied */
    const std::string *field = name == "sub" ? &s->sub
                               : name == "email" ? &s->email
                               : name == "preferred_username" ? &s->preferred_username
                               : name == "name" ? &s->name
                               : name == "picture" ? &s->picture : NULL;
    if (field != NULL) {
        return *field;
    }
    if (!ea_oidc_claim_of(*s, name, buf)) {
        auto *q = static_cast<EaOidcRequest *>(ctx->oidc);
        if (q == NULL) {
            return {};
        }
        if (!q->claims) {
            auto c = edge_auth::Claims::from_json(s->claims);
            if (!c) {
                return {};
            }
            q->claims = std::move(*c);
        }
        std::optional<std::string> v = q->claims->get(name);
        if (!v) {
            return {};
        }
        *buf = std::move(*v);
    }
    return *buf;
}


/* A request header for the upstream, by a literal name whose lowercase
 * form and hash are made once. */
struct EaHeaderName {
    ngx_str_t key;
    ngx_str_t lowcase;
    ngx_uint_t hash;
    u_char low[40];

    explicit EaHeaderName(const char *name)
    {
        key.data = (u_char *) name;
        key.len = ngx_strlen(name);
        lowcase.data = low;
        lowcase.len = key.len < sizeof(low) ? key.len : 0;
        ngx_strlow(low, key.data, lowcase.len);
        hash = ngx_hash_key(lowcase.data, lowcase.len);
    }
};

static EaHeaderName ea_h_cookie("Cookie");
static EaHeaderName ea_h_preferred_username("X-Auth-Request-Preferred-Username");
static EaHeaderName ea_h_access_token("X-Forwarded-Access-Token");
static EaHeaderName ea_h_connect_token("X-Connect-Token");
static EaHeaderName ea_h_connect_timestamp("X-Connect-Timestamp");


static ngx_int_t
ea_oidc_set_header(ngx_http_request_t *r, EaHeaderName &h, std::string_view value)
{
    if (value.empty() || !edge_auth::is_safe_header_value(value)) {
        ea_remove_header_in(r, &h.lowcase);
        return NGX_OK;
    }
    ngx_str_t v;
    if (ea_pstr(r->pool, value, &v) != NGX_OK) {
        return NGX_ERROR;
    }
    return ea_set_header_in(r, &h.key, &h.lowcase, h.hash, &v);
}


/* The session cookies (and login state cookies) never reach the backend. */
static ngx_int_t
ea_oidc_strip_cookies(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q)
{
    const auto &cookies = ea_oidc_cookies(r, q);
    std::string kept;
    bool changed = false;
    for (const auto &c : cookies) {
        if (ea_is_session_cookie(c.first, p->cookie.name)
            || ea_is_state_cookie(c.first, p->cookie.name))
        {
            changed = true;
            continue;
        }
        if (!kept.empty()) kept += "; ";
        kept += c.first;
        kept += '=';
        kept += c.second;
    }
    if (!changed) {
        return NGX_OK;
    }
    return ea_oidc_set_header(r, ea_h_cookie, kept);
}


ngx_int_t
ea_oidc_upstream(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx)
{
    EaOidcProvider *p = lcf->oidc;
    const Session *s = static_cast<const Session *>(ctx->session);
    if (p == NULL || s == NULL) {
        return NGX_OK;
    }
    if (lcf->strip && ea_oidc_strip_cookies(r, p, ea_oidc_request(r, ctx)) != NGX_OK) {
        return NGX_ERROR;
    }
    if (lcf->identity_headers
        && ea_oidc_set_header(r, ea_h_preferred_username,
                              s->preferred_username) != NGX_OK)
    {
        return NGX_ERROR;
    }
    if (p->pass_access_token
        && ea_oidc_set_header(r, ea_h_access_token, s->access_token) != NGX_OK)
    {
        return NGX_ERROR;
    }
    if (!p->connect_secret.empty()) {
        int64_t now_ms = ea_now_ms();
        std::string token = edge_auth::connect_jwt(*s, p->connect_secret, now_ms / 1000,
                                                   p->connect_expires);
        if (ea_oidc_set_header(r, ea_h_connect_token, token) != NGX_OK
            || ea_oidc_set_header(r, ea_h_connect_timestamp, std::to_string(now_ms)) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }
    return NGX_OK;
}


ngx_int_t
ea_oidc_header_filter(ngx_http_request_t *r)
{
    ea_ctx_t *ctx = ea_get_ctx(r);
    if (ctx == NULL || ctx->oidc == NULL) {
        return NGX_OK;
    }
    auto *q = static_cast<EaOidcRequest *>(ctx->oidc);
    for (const std::string &c : q->set_cookies) {
        if (ea_add_header_out(r, "Set-Cookie", c) == NULL) {
            return NGX_ERROR;
        }
    }
    q->set_cookies.clear();
    return NGX_OK;
}
