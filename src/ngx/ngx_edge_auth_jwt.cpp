/*
 * JWT client authentication (edge_auth jwt): the token from
 * `Authorization: Bearer` (or edge_auth_jwt_token), verified by the JOSE
 * core against keys from files, a shared secret and JWKS URLs; the result
 * cached in the zone under SHA-256 of the token; claims for variables, rules
 * and upstream headers.
 *
 *   edge_auth jwt;
 *   edge_auth_jwt_keys https://idp.example/.well-known/jwks.json;
 *   edge_auth_jwt_issuer https://idp.example/;
 *   edge_auth_require scope contains orders.read;
 *   edge_auth_claim_header X-User-Id sub;
 */

#include "ngx/ngx_edge_auth.h"

#include <memory>
#include <new>

#include "core/base64.h"
#include "core/claims.h"
#include "core/header_value.h"
#include "core/jose.h"
#include "core/jwk.h"

using edge_auth::Claims;


/* ---- the JOSE core behind a few functions ------------------------------- */

std::shared_ptr<const edge_auth::KeySet>
ea_jwks_parse(std::string_view text, std::string *error)
{
    edge_auth::Result<edge_auth::LoadedKeys> loaded = edge_auth::load_keys(text);
    if (!loaded) {
        *error = loaded.error();
        return nullptr;
    }
    error->clear();
    for (const std::string &w : loaded->warnings) {
        if (!error->empty()) {
            *error += "; ";
        }
        *error += w;  /* skipped keys: reported, not fatal */
    }
    return std::make_shared<const edge_auth::KeySet>(std::move(loaded->keys));
}


struct EaJwtOutcome {
    bool ok = false;
    bool unknown_kid = false;
    std::string_view reason;
    std::string payload;   /* the verified claims JSON, for the cache */
    int64_t exp_s = 0;
    Claims claims;
};


static EaJwtOutcome
ea_jwt_verify(EaJwtVerifier *v, std::string_view token,
    const std::vector<std::shared_ptr<const edge_auth::KeySet>> &sets, int64_t now_s);


static bool
ea_jwt_check_time(EaJwtVerifier *v, const Claims &claims, int64_t now_s,
    std::string_view *why);


class EaJwtVerifier {
 public:
    std::vector<std::shared_ptr<const edge_auth::KeySet>> static_keys;
    std::vector<EaJwksSource *> url_keys;
    edge_auth::AlgSet algorithms;
    edge_auth::JwtPolicy policy;
    std::shared_ptr<const edge_auth::KeySet> static_combined;  /* files + secret */
    std::string id;  /* digest of everything above: part of the cache key */
    int64_t cache_cap_ms = 3600 * 1000;
};


static void
ea_claims_cleanup(void *data) noexcept
{
    delete static_cast<Claims *>(data);
}


static Claims *
ea_ctx_set_claims(ngx_http_request_t *r, ea_ctx_t *ctx, Claims claims)
{
    ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(r->main->pool, 0);
    if (cln == NULL) {
        return NULL;
    }
    auto *owned = new Claims(std::move(claims));
    cln->handler = ea_claims_cleanup;
    cln->data = owned;
    ctx->claims = owned;
    return owned;
}


bool
ea_looks_like_jwt(std::string_view token)
{
    size_t dots = 0;
    for (char c : token) {
        dots += c == '.';
    }
    return dots == 2;
}


ngx_int_t
ea_jwt_merge(ngx_conf_t *cf, ea_loc_conf_t *lcf)
{
    auto v = std::make_unique<EaJwtVerifier>();
    std::string id = "edge-auth jwt v1\n";

    if (lcf->jwt_keys != NULL) {
        ea_jwt_key_t *keys = static_cast<ea_jwt_key_t *>(lcf->jwt_keys->elts);
        for (ngx_uint_t i = 0; i < lcf->jwt_keys->nelts; i++) {
            if (keys[i].url) {
                v->url_keys.push_back(keys[i].url);
                id += "url " + ea_jwks_url(keys[i].url) + "\n";
            } else {
                v->static_keys.push_back(*keys[i].file);
                id += "file " + std::to_string(reinterpret_cast<uintptr_t>(keys[i].file)) + "\n";
            }
        }
    }
    if (lcf->jwt_secret != NULL) {
        v->static_keys.push_back(*lcf->jwt_secret_keys);
        id += "secret " + edge_auth::to_hex(std::string_view(
            reinterpret_cast<const char *>(edge_auth::sha256(*lcf->jwt_secret).data()), 32)) + "\n";
    }
    if (v->static_keys.empty() && v->url_keys.empty()) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"edge_auth jwt\" needs edge_auth_jwt_keys or edge_auth_jwt_secret");
        return NGX_ERROR;
    }

    std::vector<std::string> algs;
    if (lcf->jwt_algorithms != NULL) {
        ngx_str_t *a = static_cast<ngx_str_t *>(lcf->jwt_algorithms->elts);
        for (ngx_uint_t i = 0; i < lcf->jwt_algorithms->nelts; i++) {
            algs.emplace_back(ea_sv(a[i]));
        }
    } else if (lcf->jwt_secret != NULL && lcf->jwt_keys == NULL) {
        algs = {"HS256"};  /* only a secret: the HMAC family is what is meant */
    } else {
        algs = {"RS256", "ES256"};
    }
    edge_auth::Result<edge_auth::AlgSet> parsed = edge_auth::AlgSet::parse(algs);
    if (!parsed) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth_jwt_algorithms: %s",
                           parsed.error().c_str());
        return NGX_ERROR;
    }
    v->algorithms = *parsed;
    if (!v->algorithms.has_hmac() && lcf->jwt_secret != NULL) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "edge_auth_jwt_secret is set but edge_auth_jwt_algorithms allows "
                           "no HS* algorithm: the secret is never used");
    }
    if (v->algorithms.has_hmac() && lcf->jwt_secret == NULL) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "HS* algorithms are allowed but there is no edge_auth_jwt_secret; "
                           "they verify only with \"oct\" keys of a JWKS");
    }
    for (const std::string &a : algs) {
        id += "alg " + a + "\n";
    }

    auto copy_list = [&](ngx_array_t *list, std::vector<std::string> &out, const char *tag) {
        if (list == NULL) {
            return;
        }
        ngx_str_t *s = static_cast<ngx_str_t *>(list->elts);
        for (ngx_uint_t i = 0; i < list->nelts; i++) {
            out.emplace_back(ea_sv(s[i]));
            id += std::string(tag) + " " + out.back() + "\n";
        }
    };
    copy_list(lcf->jwt_issuers, v->policy.issuers, "iss");
    copy_list(lcf->jwt_audiences, v->policy.audiences, "aud");
    v->policy.leeway = static_cast<int64_t>(lcf->jwt_leeway / 1000);
    v->policy.require_exp = lcf->jwt_require_exp != 0;
    id += "leeway " + std::to_string(v->policy.leeway) + " exp " +
          std::to_string(v->policy.require_exp) + "\n";

    for (EaJwksSource *src : v->url_keys) {
        /* a verified token outlives neither the keys' ttl (nor, by the
         * cache key, a change of the key documents) */
        v->cache_cap_ms = std::min<int64_t>(v->cache_cap_ms, ea_jwks_ttl(src));
    }
    if (!v->static_keys.empty()) {
        auto combined = std::make_shared<edge_auth::KeySet>();
        for (const auto &set : v->static_keys) {
            combined->add_all(*set);
        }
        v->static_combined = std::move(combined);
    }
    v->id = id;

    ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }
    cln->handler = [](void *data) noexcept { delete static_cast<EaJwtVerifier *>(data); };
    lcf->jwt = v.release();
    cln->data = lcf->jwt;
    return NGX_OK;
}


static ngx_int_t
ea_jwt_deny(ea_ctx_t *ctx, std::string_view reason)
{
    ctx->status = edge_auth::AuthStatus::InvalidToken;
    ctx->detail.data = reinterpret_cast<u_char *>(const_cast<char *>(reason.data()));
    ctx->detail.len = reason.size();
    ctx->bearer_error = 1;
    return NGX_DECLINED;
}


ngx_int_t
ea_jwt_authenticate(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx,
    std::string_view token)
{
    EaJwtVerifier *v = lcf->jwt;
    ea_main_conf_t *mcf = ea_main_conf(r);
    ngx_time_t *tp = ngx_timeofday();
    int64_t now_s = tp->sec;

    if (v == NULL) {
        /* `edge_auth jwt` on a server level without keys, and no location */
        return ea_jwt_deny(ctx, "no keys configured here");
    }

    if (token.size() > v->policy.max_token_size) {
        return ea_jwt_deny(ctx, edge_auth::reason(edge_auth::JwtStatus::TokenTooLarge));
    }
    /* The cache key names the key documents too: a verified token is
     * forgotten as soon as the keys it was verified with change. */
    std::string material = v->id;
    for (EaJwksSource *src : v->url_keys) {
        edge_auth::Digest version{};
        if (ea_jwks_version(src, &version)) {
            material.append(reinterpret_cast<const char *>(version.data()), version.size());
        }
        material += '\n';
    }
    material.append(token);
    edge_auth::Digest cache_key = edge_auth::sha256(material);

    /* A token verified before: its claims are in the zone; time claims
     * are checked again on every request. */
    std::string payload;
    if (ea_zone_get(mcf->zone, cache_key, &payload)) {
        auto claims = Claims::from_json(payload);
        if (claims) {
            ea_count_jwt_cache_hit(r, lcf);
            std::string_view why;
            if (!ea_jwt_check_time(v, *claims, now_s, &why)) {
                return ea_jwt_deny(ctx, why);
            }
            if (ea_ctx_set_claims(r, ctx, std::move(*claims)) == NULL) {
                return NGX_ERROR;
            }
            return ea_check_rules(r, lcf, ctx);
        }
    }

    /* Keys: files and secret, then each JWKS URL. */
    std::vector<std::shared_ptr<const edge_auth::KeySet>> sets;
    if (v->static_combined) {
        sets.push_back(v->static_combined);
    }
    for (EaJwksSource *src : v->url_keys) {
        std::shared_ptr<const edge_auth::KeySet> keys;
        ngx_int_t rc = ea_jwks_get(r, src, ctx, &keys);
        if (rc == NGX_AGAIN || rc == NGX_ERROR) {
            return rc;
        }
        if (rc == NGX_OK) {
            sets.push_back(std::move(keys));
        }
    }
    if (sets.empty()) {
        ea_log(r, NGX_LOG_ERR, "edge_auth: no JWT keys available (JWKS fetch failed)");
        return ea_jwt_deny(ctx, "keys unavailable");
    }

    EaJwtOutcome out = ea_jwt_verify(v, token, sets, now_s);
    if (out.unknown_kid && !v->url_keys.empty()) {
        /* a key rotated in at the IdP: fetch the keys again (rate-limited) */
        for (EaJwksSource *src : v->url_keys) {
            ngx_int_t rc = ea_jwks_refetch(r, src, ctx);
            if (rc == NGX_AGAIN || rc == NGX_ERROR) {
                return rc;
            }
        }
    }
    if (!out.ok) {
        return ea_jwt_deny(ctx, out.reason);
    }

    int64_t ttl = v->cache_cap_ms;
    if (out.exp_s > 0) {
        ttl = std::min<int64_t>(ttl, (out.exp_s - now_s) * 1000);
    }
    if (ttl > 0) {
        ea_zone_set(mcf->zone, cache_key, out.payload, static_cast<ngx_msec_t>(ttl));
    }
    if (ea_ctx_set_claims(r, ctx, std::move(out.claims)) == NULL) {
        return NGX_ERROR;
    }
    return ea_check_rules(r, lcf, ctx);
}


ngx_int_t
ea_set_claims_and_check(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx,
    Claims claims)
{
    if (ea_ctx_set_claims(r, ctx, std::move(claims)) == NULL) {
        return NGX_ERROR;
    }
    return ea_check_rules(r, lcf, ctx);
}


/* edge_auth_require: all must hold, else 403 insufficient_scope. Also sets
 * $edge_auth_user from `sub`. */
ngx_int_t
ea_check_rules(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx)
{
    Claims *claims = static_cast<Claims *>(ctx->claims);
    if (claims == NULL) {
        return ea_jwt_deny(ctx, "no claims");
    }
    if (std::optional<std::string> sub = claims->get("sub")) {
        if (ea_pstr(r->pool, *sub, &ctx->user) != NGX_OK) {
            return NGX_ERROR;
        }
    }
    if (lcf->rules != NULL) {
        auto **rules = static_cast<edge_auth::ClaimRule **>(lcf->rules->elts);
        for (ngx_uint_t i = 0; i < lcf->rules->nelts; i++) {
            if (!rules[i]->holds(*claims)) {
                std::string d = "claim rule failed: " + rules[i]->describe();
                ngx_str_t detail;
                if (ea_pstr(r->pool, edge_auth::log_safe(d, 200), &detail) != NGX_OK) {
                    return NGX_ERROR;
                }
                ctx->detail = detail;
                ctx->status = edge_auth::AuthStatus::Forbidden;
                ctx->bearer_error = 2;
                return NGX_DECLINED;
            }
        }
    }
    ctx->status = edge_auth::AuthStatus::Ok;
    return NGX_OK;
}


std::string_view
ea_claim(ea_ctx_t *ctx, std::string_view name, std::string *buf)
{
    if (ctx != NULL && ctx->session != NULL && ctx->authenticated) {
        return ea_oidc_claim(ctx, name, buf);
    }
    Claims *claims = ctx ? static_cast<Claims *>(ctx->claims) : NULL;
    if (claims == NULL || !ctx->authenticated) {
        return {};
    }
    std::optional<std::string> v = claims->get(name);
    if (!v) {
        return {};
    }
    *buf = std::move(*v);
    return *buf;
}


/* Claim headers and identity headers for the upstream. A header whose claim
 * is missing is removed, so a client cannot supply it. */
ngx_int_t
ea_claims_upstream(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx)
{
    std::string buf;
    auto put = [&](ngx_str_t *name, ngx_str_t *lowcase, ngx_uint_t hash,
                   std::string_view v) -> ngx_int_t {
        if (v.empty()) {
            ea_remove_header_in(r, lowcase);
            return NGX_OK;
        }
        ngx_str_t value;
        if (!edge_auth::is_safe_header_value(v) || ea_pstr(r->pool, v, &value) != NGX_OK
            || ea_set_header_in(r, name, lowcase, hash, &value) != NGX_OK)
        {
            ea_log(r, NGX_LOG_ERR, "edge_auth: claim header \"%V\" not sent", name);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        return NGX_OK;
    };

    if (lcf->claim_headers != NULL) {
        auto *h = static_cast<ea_claim_header_t *>(lcf->claim_headers->elts);
        for (ngx_uint_t i = 0; i < lcf->claim_headers->nelts; i++) {
            ngx_int_t rc = put(&h[i].name, &h[i].lowcase, h[i].hash,
                               ea_claim(ctx, *h[i].claim, &buf));
            if (rc != NGX_OK) {
                return rc;
            }
        }
    }
    if (lcf->identity_headers) {
        static ngx_str_t names[] = {ngx_string("X-Auth-Request-User"),
                                    ngx_string("X-Auth-Request-Email"),
                                    ngx_string("X-Auth-Request-Groups")};
        static ngx_str_t lows[] = {ngx_string("x-auth-request-user"),
                                   ngx_string("x-auth-request-email"),
                                   ngx_string("x-auth-request-groups")};
        static ngx_uint_t hashes[3];
        static const char *claims[] = {"sub", "email", "groups"};
        for (int i = 0; i < 3; i++) {
            if (hashes[i] == 0) {
                hashes[i] = ngx_hash_key(lows[i].data, lows[i].len);
            }
            std::string_view v;
            if (i == 0 && ctx && ctx->authenticated
                && (ctx->claims == NULL || ctx->session != NULL) && ctx->user.len)
            {
                v = ea_sv(ctx->user);  /* Basic / token label, session user */
            } else {
                v = ea_claim(ctx, claims[i], &buf);
            }
            ngx_int_t rc = put(&names[i], &lows[i], hashes[i], v);
            if (rc != NGX_OK) {
                return rc;
            }
        }
    }
    return NGX_OK;
}


/* One KeySet for the verification (the core selects by kid and alg). */
static EaJwtOutcome
ea_jwt_verify(EaJwtVerifier *v, std::string_view token,
    const std::vector<std::shared_ptr<const edge_auth::KeySet>> &sets, int64_t now_s)
{
    EaJwtOutcome out;
    const edge_auth::KeySet *keys = sets.front().get();
    edge_auth::KeySet merged;
    if (sets.size() > 1) {
        for (const auto &set : sets) {
            merged.add_all(*set);
        }
        keys = &merged;
    }

    edge_auth::VerifiedJwt jwt;
    edge_auth::JwtStatus status =
        edge_auth::verify_jwt(token, *keys, v->algorithms, v->policy, now_s, jwt);
    if (status != edge_auth::JwtStatus::Ok) {
        out.reason = edge_auth::reason(status);
        out.unknown_kid = status == edge_auth::JwtStatus::UnknownKid;
        return out;
    }

    /* The payload is the middle part; verify_jwt has checked it. */
    size_t first = token.find('.');
    size_t second = token.find('.', first + 1);
    if (!edge_auth::base64url_decode(token.substr(first + 1, second - first - 1), out.payload)) {
        out.reason = edge_auth::reason(edge_auth::JwtStatus::Malformed);
        return out;
    }
    out.ok = true;
    out.exp_s = jwt.exp ? *jwt.exp : 0;
    out.claims = std::move(jwt.claims);
    return out;
}


static bool
ea_jwt_check_time(EaJwtVerifier *v, const Claims &claims, int64_t now_s,
    std::string_view *why)
{
    edge_auth::JwtStatus status = edge_auth::check_time(claims, v->policy, now_s);
    if (status != edge_auth::JwtStatus::Ok) {
        *why = edge_auth::reason(status);
        return false;
    }
    return true;
}
