/*
 * The login endpoints, served in the rewrite phase (before the location's
 * own rewrite directives) of every server whose configuration names a
 * provider with edge_auth_oidc:
 *
 *   GET  <prefix>/callback?code&state   finish a login, 302 to where it began
 *   GET  <prefix>/start?rd=URL          begin a login explicitly
 *   GET  <prefix>/sign_out?rd=URL       end the session (RP-initiated logout)
 *   GET  <prefix>/auth                  forward auth: 202 + X-Auth-Request-*, or 401
 *   GET  <prefix>/userinfo              the session identity as JSON
 *   POST <prefix>/backchannel_logout    OpenID back-channel logout
 *
 * A step that waits (discovery, the code exchange, JWKS, userinfo, Redis)
 * parks the request and returns NGX_DONE; the phase is run again when the
 * value arrives and continues from the step kept in EaOidcRequest.
 */

#include "ngx/ngx_edge_auth_oidc.h"

#include <jansson.h>

#include "core/header_value.h"
#include "core/jose.h"
#include "core/json.h"
#include "core/query.h"
#include "core/text.h"

using edge_auth::Session;


static std::string
ea_arg(ngx_http_request_t *r, std::string_view name)
{
    std::optional<std::string> v = edge_auth::query_get(ea_sv(r->args), name);
    return v ? *v : std::string();
}


/* NGX_AGAIN from a wait becomes NGX_DONE in the rewrite phase. */
static ngx_int_t
ea_parked(ngx_int_t rc)
{
    return rc == NGX_AGAIN ? NGX_DONE : rc;
}


static ngx_int_t
ea_login_failed(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q,
    ngx_uint_t status, const char *why, std::string_view detail = {})
{
    ea_oidc_log(r, status >= 500 ? NGX_LOG_ERR : NGX_LOG_WARN, p,
                (std::string("login failed: ") + why).c_str(), detail);
    /* the state cookie of this attempt is spent either way */
    if (!q->state_cookie.empty()) {
        edge_auth::CookieAttributes a = p->cookie;
        a.name = q->state_cookie;
        a.domain.clear();
        a.max_age = 0;
        q->set_cookies.push_back(edge_auth::set_cookie_header(a, ""));
        q->state_cookie.clear();
    }
    std::string body = std::to_string(status) + " login failed: " + why + "\n";
    return ea_oidc_send(r, q, status, body);
}

/* ---- callback ----------------------------------------------------------- */

/* What the provider says it signs ID tokens with (discovery), RS256 when it
 * does not say; never none or HMAC (the core drops them from discovery). */
static edge_auth::AlgSet
ea_id_token_algs(EaOidcProvider *p)
{
    std::vector<std::string> names;
    for (const std::string &name : p->ep.id_token_algs) {
        if (edge_auth::parse_alg(name)) {
            names.push_back(name);
        }
    }
    if (names.empty()) {
        names.push_back("RS256");
    }
    auto set = edge_auth::AlgSet::parse(names);
    return set ? *set : edge_auth::AlgSet::of({edge_auth::JwsAlg::RS256});
}


static ngx_int_t
ea_callback_start(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q)
{
    std::string state = ea_arg(r, "state");
    if (state.size() < 20 || state.size() > 128) {
        return ea_login_failed(r, p, q, NGX_HTTP_UNAUTHORIZED, "invalid state",
                               "missing or malformed state");
    }
    std::string name = edge_auth::state_cookie_name(p->cookie.name, state);
    std::optional<std::string> sealed;
    for (const auto &c : ea_oidc_cookies(r, q)) {
        if (c.first == name) {
            sealed.emplace(c.second);
        }
    }
    if (!sealed) {
        return ea_login_failed(r, p, q, NGX_HTTP_UNAUTHORIZED, "invalid state",
                               "no state cookie for this state");
    }
    q->state_cookie = name;
    auto login = edge_auth::open_state(p->state_key, *sealed, name, ea_now_s());
    if (!login || !edge_auth::constant_time_equal(login->state, state)) {
        return ea_login_failed(r, p, q, NGX_HTTP_UNAUTHORIZED, "invalid state",
                               login ? "state mismatch" : login.error());
    }
    q->login = std::move(*login);

    std::string error = ea_arg(r, "error");
    if (!error.empty()) {
        /* the OP's error code is a token of [a-z_]: show nothing else */
        std::string code;
        for (char c : error.substr(0, 64)) {
            if ((c >= 'a' && c <= 'z') || c == '_') code += c;
        }
        if (code.empty()) code = "error";
        ngx_uint_t status = code == "access_denied" ? NGX_HTTP_FORBIDDEN : NGX_HTTP_UNAUTHORIZED;
        return ea_login_failed(r, p, q, status, code.c_str(), "the provider answered " + code);
    }
    if (ea_arg(r, "code").empty()) {
        return ea_login_failed(r, p, q, NGX_HTTP_UNAUTHORIZED, "no code",
                               "callback without code");
    }
    q->redirect_uri = ea_oidc_origin(r, p) + p->prefix + "/callback";
    q->step = EaCallbackStep::Token;
    return NGX_OK;
}


static ngx_int_t
ea_callback_id_token(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q,
    ea_ctx_t *ctx)
{
    if (q->tokens.id_token.empty()) {
        return ea_login_failed(r, p, q, NGX_HTTP_UNAUTHORIZED, "invalid ID token",
                               "the token response has no id_token");
    }
    std::shared_ptr<const edge_auth::KeySet> keys;
    ngx_int_t rc = ea_jwks_get(r, p->jwks, ctx, &keys);
    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }
    if (rc != NGX_OK || !keys) {
        return ea_login_failed(r, p, q, NGX_HTTP_BAD_GATEWAY, "provider keys unavailable",
                               ea_jwks_url(p->jwks));
    }
    edge_auth::AlgSet algs = ea_id_token_algs(p);
    edge_auth::JwtPolicy policy;
    policy.issuers = {p->ep.issuer};
    policy.audiences = {p->client.client_id};
    policy.leeway = 60;
    edge_auth::VerifiedJwt jwt;
    edge_auth::JwtStatus st = edge_auth::verify_jwt(q->tokens.id_token, *keys, algs, policy,
                                                    ea_now_s(), jwt);
    if (st == edge_auth::JwtStatus::UnknownKid && !q->jwks_refetched) {
        q->jwks_refetched = true;
        ctx->jwks_waited = NULL;
        rc = ea_jwks_refetch(r, p->jwks, ctx);
        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }
        return ea_callback_id_token(r, p, q, ctx);
    }
    if (st != edge_auth::JwtStatus::Ok) {
        return ea_login_failed(r, p, q, NGX_HTTP_UNAUTHORIZED, "invalid ID token",
                               edge_auth::reason(st));
    }
    std::string why = edge_auth::check_id_token_claims(jwt.claims, p->client.client_id,
                                                       q->login.nonce);
    if (!why.empty()) {
        return ea_login_failed(r, p, q, NGX_HTTP_UNAUTHORIZED, "invalid ID token", why);
    }
    q->id_claims = std::move(jwt.claims);
    q->step = EaCallbackStep::Userinfo;
    return NGX_OK;
}


/* userinfo (OIDC, when enabled) or the user API (plain OAuth2) */
static ngx_int_t
ea_callback_userinfo(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q)
{
    std::string url = p->oidc ? p->ep.userinfo_endpoint : p->user_api;
    if (url.empty()) {
        url = p->ep.userinfo_endpoint;
    }
    bool wanted = !p->oidc || (p->userinfo != 0 && !url.empty());
    if (!wanted) {
        q->step = EaCallbackStep::Store;
        return NGX_OK;
    }
    if (url.empty()) {
        return ea_login_failed(r, p, q, NGX_HTTP_BAD_GATEWAY, "no userinfo endpoint");
    }
    ngx_int_t rc = ea_oidc_http(r, q, edge_auth::build_bearer_get(url, q->tokens.access_token),
                                p->timeout_ms, p->ca_file);
    if (rc != NGX_OK) {
        return rc;
    }
    edge_auth::HttpResponse resp = std::move(q->call->http);
    q->call.reset();
    if (!resp.ok()) {
        return ea_login_failed(r, p, q, NGX_HTTP_BAD_GATEWAY, "userinfo failed",
                               resp.status ? "HTTP " + std::to_string(resp.status) : resp.error);
    }
    auto claims = edge_auth::Claims::from_json(resp.body);
    if (!claims) {
        return ea_login_failed(r, p, q, NGX_HTTP_BAD_GATEWAY, "userinfo failed",
                               claims.error());
    }
    if (q->id_claims) {
        std::string why = edge_auth::check_userinfo_sub(
            *claims, q->id_claims->get("sub").value_or(""));
        if (!why.empty()) {
            return ea_login_failed(r, p, q, NGX_HTTP_UNAUTHORIZED, "userinfo rejected", why);
        }
    }
    bool need_email = !p->oidc && !p->ep.emails_endpoint.empty() && !claims->has("email");
    q->userinfo = std::move(*claims);
    q->step = need_email ? EaCallbackStep::Emails : EaCallbackStep::Store;
    return NGX_OK;
}


/* GitHub hides a private email from /user: the primary verified one */
static ngx_int_t
ea_callback_emails(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q,
    std::optional<std::string> *email)
{
    ngx_int_t rc = ea_oidc_http(r, q, edge_auth::build_bearer_get(p->ep.emails_endpoint,
                                                                  q->tokens.access_token),
                                p->timeout_ms, p->ca_file);
    if (rc != NGX_OK) {
        return rc;
    }
    edge_auth::HttpResponse resp = std::move(q->call->http);
    q->call.reset();
    if (resp.ok()) {
        *email = edge_auth::github_primary_email(resp.body);
    } else {
        ea_oidc_log(r, NGX_LOG_WARN, p, "emails request failed",
                    resp.status ? "HTTP " + std::to_string(resp.status) : resp.error);
    }
    return NGX_OK;
}


static ngx_int_t
ea_callback(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q, ea_ctx_t *ctx)
{
    ngx_int_t rc;
    for (;;) {
        switch (q->step) {
        case EaCallbackStep::Start:
            rc = ea_callback_start(r, p, q);
            if (rc != NGX_OK) return rc;
            break;

        case EaCallbackStep::Token: {
            rc = ea_oidc_ready(r, p, q);
            if (rc == NGX_AGAIN) return NGX_DONE;
            if (rc != NGX_OK) {
                return ea_login_failed(r, p, q, NGX_HTTP_BAD_GATEWAY,
                                       "identity provider unavailable", p->discovery_error);
            }
            rc = ea_oidc_http(r, q, edge_auth::build_code_request(
                                  p->ep, p->client, ea_arg(r, "code"), q->redirect_uri,
                                  q->login.verifier),
                              p->timeout_ms, p->ca_file);
            if (rc != NGX_OK) return ea_parked(rc);
            q->tokens = edge_auth::parse_token_set(q->call->http, ea_now_s());
            q->call.reset();
            if (!q->tokens.ok) {
                return ea_login_failed(r, p, q, NGX_HTTP_BAD_GATEWAY, "code exchange failed",
                                       q->tokens.error);
            }
            q->step = p->oidc ? EaCallbackStep::IdToken : EaCallbackStep::Userinfo;
            break;
        }

        case EaCallbackStep::IdToken:
            rc = ea_callback_id_token(r, p, q, ctx);
            if (rc != NGX_OK) return ea_parked(rc);
            break;

        case EaCallbackStep::Userinfo:
            rc = ea_callback_userinfo(r, p, q);
            if (rc != NGX_OK) return ea_parked(rc);
            break;

        case EaCallbackStep::Emails: {
            std::optional<std::string> email;
            rc = ea_callback_emails(r, p, q, &email);
            if (rc != NGX_OK) return ea_parked(rc);
            if (email && q->userinfo) {
                /* the identity with the email added */
                std::string merged;
                json_t *obj = json_deep_copy(q->userinfo->json());
                if (obj != NULL) {
                    json_object_set_new(obj, "email", json_string(email->c_str()));
                    char *text = json_dumps(obj, JSON_COMPACT);
                    json_decref(obj);
                    if (text != NULL) {
                        merged = text;
                        free(text);
                        if (auto c = edge_auth::Claims::from_json(merged)) {
                            q->userinfo = std::move(*c);
                        }
                    }
                }
            }
            q->step = EaCallbackStep::Store;
            break;
        }

        case EaCallbackStep::Store: {
            if (!q->session) {
                Session s = edge_auth::session_from_identity(
                    q->id_claims ? &*q->id_claims : NULL, q->userinfo ? &*q->userinfo : NULL,
                    p->groups_claim, q->tokens, ea_now_s(), p->name);
                std::string why = edge_auth::check_allowed(s, p->allowed_users,
                                                           p->allowed_domains,
                                                           p->allowed_groups);
                if (!why.empty()) {
                    return ea_login_failed(r, p, q, NGX_HTTP_FORBIDDEN, "not allowed",
                                           why + " (user " + s.user + ")");
                }
                q->session = std::make_shared<Session>(std::move(s));
            }
            rc = ea_oidc_save_session(r, p, q);
            if (rc == NGX_AGAIN) return NGX_DONE;
            if (rc != NGX_OK) {
                return ea_login_failed(r, p, q, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "session store unavailable");
            }
            p->count(p->created, "created");
            q->step = EaCallbackStep::Done;
            break;
        }

        case EaCallbackStep::Done: {
            if (p->store == EaSessionStore::Redis && ea_redis_enabled()) {
                /* index the session for back-channel logout on any node */
                const Session &s = *q->session;
                std::string ms = std::to_string(p->policy.lifetime * 1000);
                for (const auto &[kind, value] : {std::pair<const char *, const std::string *>{
                                                      "sid", &s.sid},
                                                  {"sub", &s.sub}})
                {
                    if (value->empty()) continue;
                    std::string key = ea_oidc_index_key(r, p, kind, *value);
                    ea_redis_command({"APPEND", key, s.id + ","}, [](ea_redis_reply_t) {});
                    ea_redis_command({"PEXPIRE", key, ms}, [](ea_redis_reply_t) {});
                }
            }
            edge_auth::CookieAttributes a = p->cookie;
            a.name = q->state_cookie;
            a.domain.clear();
            a.max_age = 0;
            q->set_cookies.push_back(edge_auth::set_cookie_header(a, ""));
            std::string user = edge_auth::log_safe(q->session->user, 100);
            ea_log(r, NGX_LOG_INFO,
                          "edge_auth: oidc provider \"%s\": login of \"%s\"",
                          p->name.c_str(), user.c_str());
            return ea_oidc_send(r, q, NGX_HTTP_MOVED_TEMPORARILY, "302 Found\n",
                                q->login.return_to.empty() ? "/" : q->login.return_to);
        }
        }
    }
}

/* ---- sign out, auth, userinfo ------------------------------------------- */

static ngx_int_t
ea_sign_out(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q)
{
    ngx_int_t rc = ea_oidc_load_session(r, p, q);
    if (rc != NGX_OK) {
        return ea_parked(rc);
    }
    if (q->session && p->store == EaSessionStore::Redis && ea_redis_enabled() && !q->signed_out) {
        /* the session is gone from Redis before the browser is answered:
         * its next request, on any node, finds nothing (the DEL of
         * ea_oidc_end_session alone may still be unsent then) */
        rc = ea_oidc_redis(r, q, {"DEL", ea_oidc_session_key(r, p, q->session->id)});
        if (rc != NGX_OK) {
            return ea_parked(rc);
        }
        q->call.reset();
        q->signed_out = true;
    }
    std::string rd = ea_arg(r, "rd");
    std::string target = edge_auth::safe_return_url(rd.empty() ? p->post_logout_redirect : rd,
                                                    p->redirect_hosts);
    if (rd.empty() && std::string_view(p->post_logout_redirect).substr(0, 4) == "http") {
        target = p->post_logout_redirect;  /* configured, so trusted */
    }
    std::string id_token = q->session ? ea_oidc_id_token(p, *q->session) : std::string();
    bool had_session = q->session != nullptr;
    if (q->session) {
        std::string user = edge_auth::log_safe(q->session->user, 100);
        ea_log(r, NGX_LOG_INFO,
                      "edge_auth: oidc provider \"%s\": sign out of \"%s\"",
                      p->name.c_str(), user.c_str());
    }
    ea_oidc_end_session(r, p, q);

    /* RP-initiated logout at the OP, when it has an end_session_endpoint */
    if (had_session && p->ready && !p->ep.end_session_endpoint.empty()) {
        std::string back = target[0] == '/' ? ea_oidc_origin(r, p) + target : target;
        std::string url = p->ep.end_session_endpoint;
        url += url.find('?') == std::string::npos ? '?' : '&';
        if (!id_token.empty()) {
            url += "id_token_hint=" + edge_auth::percent_encode(id_token) + "&";
        }
        url += "post_logout_redirect_uri=" + edge_auth::percent_encode(back)
               + "&client_id=" + edge_auth::percent_encode(p->client.client_id);
        return ea_oidc_send(r, q, NGX_HTTP_MOVED_TEMPORARILY, "302 Found\n", url);
    }
    return ea_oidc_send(r, q, NGX_HTTP_MOVED_TEMPORARILY, "302 Found\n", target);
}


static bool
ea_session_usable(EaOidcProvider *p, const Session &s)
{
    return edge_auth::session_state(s, ea_now_s(), p->policy, p->pass_access_token)
           != edge_auth::SessionState::Expired;
}


/* NGX_OK: q->session is usable; else what the endpoint returns (it waits,
 * or a 401 was sent). */
static ngx_int_t
ea_usable_session(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q)
{
    ngx_int_t rc = ea_oidc_load_session(r, p, q);
    if (rc != NGX_OK) {
        return ea_parked(rc);
    }
    if (!q->session || !ea_session_usable(p, *q->session)) {
        return ea_oidc_send(r, q, NGX_HTTP_UNAUTHORIZED, "401 Unauthorized\n");
    }
    return NGX_OK;
}


static ngx_int_t
ea_forward_auth(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q)
{
    ngx_int_t rc = ea_usable_session(r, p, q);
    if (rc != NGX_OK) {
        return rc;
    }
    const Session &s = *q->session;
    std::string groups;
    ea_oidc_claim_of(s, "groups", &groups);
    const std::pair<const char *, const std::string *> headers[] = {
        {"X-Auth-Request-User", &s.user},
        {"X-Auth-Request-Email", &s.email},
        {"X-Auth-Request-Groups", &groups},
        {"X-Auth-Request-Preferred-Username", &s.preferred_username},
        {"X-Auth-Request-Access-Token", p->pass_access_token ? &s.access_token : NULL},
    };
    for (const auto &h : headers) {
        if (h.second != NULL && !h.second->empty()
            && edge_auth::is_safe_header_value(*h.second)
            && ea_add_header_out(r, h.first, *h.second) == NULL)
        {
            return ea_send(r, NGX_HTTP_INTERNAL_SERVER_ERROR, "500 Internal Server Error\n");
        }
    }
    return ea_oidc_send(r, q, NGX_HTTP_ACCEPTED, "");
}


static ngx_int_t
ea_userinfo(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q)
{
    ngx_int_t rc = ea_usable_session(r, p, q);
    if (rc != NGX_OK) {
        return rc;
    }
    const Session &s = *q->session;
    edge_auth::JsonPtr doc(json_object());
    json_t *groups = json_array();
    for (const std::string &g : s.groups) {
        json_array_append_new(groups, json_string(g.c_str()));
    }
    json_object_set_new(doc.get(), "user", json_string(s.user.c_str()));
    json_object_set_new(doc.get(), "sub", json_string(s.sub.c_str()));
    json_object_set_new(doc.get(), "email", json_string(s.email.c_str()));
    json_object_set_new(doc.get(), "preferred_username",
                        json_string(s.preferred_username.c_str()));
    json_object_set_new(doc.get(), "name", json_string(s.name.c_str()));
    json_object_set_new(doc.get(), "groups", groups);
    char *text = json_dumps(doc.get(), JSON_COMPACT);
    if (text == NULL) {
        return ea_send(r, NGX_HTTP_INTERNAL_SERVER_ERROR, "500 Internal Server Error\n");
    }
    std::string body(text);
    free(text);
    body += '\n';
    return ea_oidc_send(r, q, NGX_HTTP_OK, body, {}, "application/json");
}

/* ---- back-channel logout ------------------------------------------------ */

static ngx_int_t ea_logout_sessions(ngx_http_request_t *r, EaOidcProvider *p,
    EaOidcRequest *q);

static void
ea_body_read(ngx_http_request_t *r) noexcept
{
    ea_ctx_t *ctx = ea_get_ctx(r);
    r->main->count--;
    if (ctx == NULL || ctx->oidc == NULL) {
        return;
    }
    auto *q = static_cast<EaOidcRequest *>(ctx->oidc);
    q->body_read = true;
    if (q->body_waiting) {
        q->body_waiting = false;
        ngx_http_core_run_phases(r);
    }
}


static ngx_int_t
ea_backchannel_logout(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q,
    ea_ctx_t *ctx)
{
    if (!(r->method & NGX_HTTP_POST)) {
        return ea_oidc_send(r, q, NGX_HTTP_NOT_ALLOWED, "405 Method Not Allowed\n");
    }
    if (!q->body_read) {
        r->request_body_in_single_buf = 1;
        ngx_int_t rc = ngx_http_read_client_request_body(r, ea_body_read);
        if (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }
        if (!q->body_read) {
            q->body_waiting = true;
            return NGX_DONE;
        }
    }
    std::string body;
    if (r->request_body != NULL && r->request_body->temp_file == NULL) {
        for (ngx_chain_t *cl = r->request_body->bufs; cl; cl = cl->next) {
            body.append(reinterpret_cast<const char *>(cl->buf->pos), cl->buf->last - cl->buf->pos);
        }
    }
    auto bad = [&](const char *why, std::string_view detail) {
        ea_oidc_log(r, NGX_LOG_WARN, p, (std::string("back-channel logout refused: ") + why)
                                            .c_str(), detail);
        return ea_oidc_send(r, q, NGX_HTTP_BAD_REQUEST,
                            "{\"error\":\"invalid_request\"}\n", {}, "application/json");
    };
    if (q->logout_accepted) {
        return ea_logout_sessions(r, p, q);
    }
    std::optional<std::string> token = edge_auth::query_get(body, "logout_token");
    if (!token || token->empty()) {
        return bad("no logout_token", "");
    }
    if (!p->oidc || p->jwks == NULL) {
        return bad("not an OpenID provider", "");
    }
    ngx_int_t rc = ea_oidc_ready(r, p, q);
    if (rc == NGX_AGAIN) return NGX_DONE;
    if (rc != NGX_OK) {
        return ea_oidc_send(r, q, NGX_HTTP_BAD_GATEWAY, "502 identity provider unavailable\n");
    }
    std::shared_ptr<const edge_auth::KeySet> keys;
    rc = ea_jwks_get(r, p->jwks, ctx, &keys);
    if (rc == NGX_AGAIN) return NGX_DONE;
    if (rc != NGX_OK || !keys) {
        return ea_oidc_send(r, q, NGX_HTTP_BAD_GATEWAY, "502 identity provider unavailable\n");
    }
    edge_auth::AlgSet algs = ea_id_token_algs(p);
    edge_auth::JwtPolicy policy;
    policy.issuers = {p->ep.issuer};
    policy.audiences = {p->client.client_id};
    policy.require_exp = false;
    policy.leeway = 60;
    edge_auth::VerifiedJwt jwt;
    edge_auth::JwtStatus st = edge_auth::verify_jwt(*token, *keys, algs, policy, ea_now_s(), jwt);
    if (st != edge_auth::JwtStatus::Ok) {
        return bad("invalid logout token", edge_auth::reason(st));
    }
    if (!jwt.claims.has("iat")) {
        return bad("invalid logout token", "no iat");
    }
    auto target = edge_auth::check_logout_token(jwt.claims);
    if (!target) {
        return bad("invalid logout token", target.error());
    }
    int64_t keep = p->policy.lifetime * 1000;
    if (!ea_zone_add(p->zone, ea_oidc_ended_key(p, "jti", target->jti), "1",
                     static_cast<ngx_msec_t>(10 * 60 * 1000)))
    {
        return bad("replayed logout token", "jti seen before");
    }
    std::string now = std::to_string(ea_now_s());
    ea_zone_set(p->zone, ea_oidc_ended_key(p, "any", ""), "1", static_cast<ngx_msec_t>(keep));
    if (!target->sid.empty()) {
        ea_zone_set(p->zone, ea_oidc_ended_key(p, "sid", target->sid), now,
                    static_cast<ngx_msec_t>(keep));
    } else {
        ea_zone_set(p->zone, ea_oidc_ended_key(p, "sub", target->sub), now,
                    static_cast<ngx_msec_t>(keep));
    }
    ea_oidc_markers_written(p);
    ea_log(r, NGX_LOG_INFO,
                  "edge_auth: oidc provider \"%s\": back-channel logout (%s)",
                  p->name.c_str(), target->sid.empty() ? "sub" : "sid");
    q->logout_accepted = true;
    p->count(p->ended, "ended");
    if (p->store == EaSessionStore::Redis) {
        q->logout_index = target->sid.empty() ? ea_oidc_index_key(r, p, "sub", target->sub)
                                              : ea_oidc_index_key(r, p, "sid", target->sid);
    }
    return ea_logout_sessions(r, p, q);
}


/* The zone markers end the sessions on this node; with Redis, the sessions
 * themselves are deleted, so every node sees them end. */
static ngx_int_t
ea_logout_sessions(ngx_http_request_t *r, EaOidcProvider *p, EaOidcRequest *q)
{
    if (!q->logout_del.empty()) {
        /* answer once Redis has deleted them: every node sees them end */
        ngx_int_t rc = ea_oidc_redis(r, q, q->logout_del);
        if (rc != NGX_OK) {
            return ea_parked(rc);
        }
        bool ok = q->call->redis.ok;
        q->call.reset();
        if (!ok) {
            ea_oidc_log(r, NGX_LOG_ERR, p, "back-channel logout: session store unavailable",
                        "redis");
            return ea_oidc_send(r, q, NGX_HTTP_SERVICE_UNAVAILABLE,
                                "503 session store unavailable\n");
        }
    } else if (!q->logout_index.empty() && ea_redis_enabled()) {
        ngx_int_t rc = ea_oidc_redis(r, q, {"GET", q->logout_index});
        if (rc != NGX_OK) {
            return ea_parked(rc);
        }
        ea_redis_reply_t reply = std::move(q->call->redis);
        q->call.reset();
        if (!reply.ok) {
            ea_oidc_log(r, NGX_LOG_ERR, p, "back-channel logout: session store unavailable",
                        "redis");
            return ea_oidc_send(r, q, NGX_HTTP_SERVICE_UNAVAILABLE,
                                "503 session store unavailable\n");
        }
        std::vector<std::string> del = {"DEL", q->logout_index};
        std::string_view ids = reply.value ? std::string_view(*reply.value) : "";
        while (!ids.empty()) {
            size_t comma = ids.find(',');
            std::string_view id = ids.substr(0, comma);
            if (!id.empty() && del.size() < 1000) {
                del.push_back(ea_oidc_session_key(r, p, id));
            }
            ids = comma == std::string_view::npos ? "" : ids.substr(comma + 1);
        }
        q->logout_del = std::move(del);
        return ea_logout_sessions(r, p, q);
    }
    return ea_oidc_send(r, q, NGX_HTTP_OK, "");
}

/* ---- dispatch ----------------------------------------------------------- */

enum class EaEndpoint { None, Callback, Start, SignOut, Auth, Userinfo, BackchannelLogout };


static EaEndpoint
ea_endpoint(std::string_view uri, const std::string &prefix)
{
    if (uri.size() <= prefix.size() + 1 || uri.substr(0, prefix.size()) != prefix
        || uri[prefix.size()] != '/')
    {
        return EaEndpoint::None;
    }
    std::string_view name = uri.substr(prefix.size() + 1);
    if (name == "callback") return EaEndpoint::Callback;
    if (name == "start") return EaEndpoint::Start;
    if (name == "sign_out") return EaEndpoint::SignOut;
    if (name == "auth") return EaEndpoint::Auth;
    if (name == "userinfo") return EaEndpoint::Userinfo;
    if (name == "backchannel_logout") return EaEndpoint::BackchannelLogout;
    return EaEndpoint::None;
}


static ngx_int_t
ea_oidc_rewrite(ngx_http_request_t *r)
{
    ea_srv_conf_t *srv = static_cast<ea_srv_conf_t *>(
        ngx_http_get_module_srv_conf(r, ngx_http_edge_auth_module));
    if (srv->providers == NULL) {
        return NGX_DECLINED;
    }
    std::string_view uri = ea_sv(r->uri);
    auto **all = static_cast<EaOidcProvider **>(srv->providers->elts);
    EaOidcProvider *p = NULL;
    EaEndpoint which = EaEndpoint::None;
    for (ngx_uint_t i = 0; i < srv->providers->nelts && which == EaEndpoint::None; i++) {
        which = ea_endpoint(uri, all[i]->prefix);
        p = all[i];
    }
    if (which == EaEndpoint::None) {
        return NGX_DECLINED;
    }

    ea_ctx_t *ctx = ea_get_ctx(r);
    if (ctx == NULL) {
        ctx = ea_create_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    if (ctx->parked) {
        return NGX_DONE;  /* run by an event while it waits: keep waiting */
    }
    EaOidcRequest *q = ea_oidc_request(r, ctx);

    switch (which) {
    case EaEndpoint::Callback:
        if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
            return ea_oidc_send(r, q, NGX_HTTP_NOT_ALLOWED, "405 Method Not Allowed\n");
        }
        return ea_callback(r, p, q, ctx);
    case EaEndpoint::Start:
        return ea_parked(ea_oidc_login_redirect(r, p, q, ea_arg(r, "rd")));
    case EaEndpoint::SignOut:
        return ea_sign_out(r, p, q);
    case EaEndpoint::Auth:
        return ea_forward_auth(r, p, q);
    case EaEndpoint::Userinfo:
        return ea_userinfo(r, p, q);
    case EaEndpoint::BackchannelLogout:
        return ea_backchannel_logout(r, p, q, ctx);
    case EaEndpoint::None:
        break;
    }
    return NGX_DECLINED;
}


ngx_int_t
ea_oidc_rewrite_handler(ngx_http_request_t *r) noexcept
{
    try {
        return ea_oidc_rewrite(r);
    } catch (const std::exception &e) {
        ea_log(r, NGX_LOG_ERR, "edge_auth: oidc endpoint failed: %s", e.what());
    } catch (...) {
        ea_log(r, NGX_LOG_ERR, "edge_auth: oidc endpoint failed");
    }
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}
