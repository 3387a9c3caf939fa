/*
 * The shared-memory cache: a slab pool holding an rbtree of entries keyed by
 * 32-byte digests plus an LRU queue, under the slab pool's mutex, as nginx's
 * own shared dictionaries do. Values are opaque bytes (the core serialises);
 * every entry has an absolute expiry in wall-clock milliseconds, so workers
 * and reloads agree. On allocation failure the least recently used entries
 * are evicted; a full zone never fails a request.
 *
 *   ea_zone_set(zone, key, "value", 60000);
 *   std::string v;  if (ea_zone_get(zone, key, &v)) ...
 */

#include "ngx/ngx_edge_auth.h"

#include <cstring>
#include <tuple>
#include <vector>

#include "core/crypto.h"

struct ea_shctx_t {
    ngx_rbtree_t       rbtree;
    ngx_rbtree_node_t  sentinel;
    ngx_queue_t        lru;
    u_char             secret[32];  /* keys zone-local HMACs; never leaves */
    ngx_queue_t        series;      /* metric counters (never evicted) */
};

/* One metric series: a counter every worker increments atomically. */
struct ea_series_t {
    ngx_queue_t        queue;
    ngx_atomic_t       value;
    uint32_t           metric;
    uint32_t           len;
    u_char             key[1];
};

struct ea_zone_t {
    ea_shctx_t        *sh;
    ngx_slab_pool_t   *shpool;
};

/* rbtree node: node.key holds the first bytes of the digest. */
struct ea_node_t {
    ngx_rbtree_node_t  node;
    ngx_queue_t        queue;
    uint64_t           expires;     /* wall-clock ms */
    u_char             key[32];
    uint32_t           len;
    u_char             data[1];
};

static uint64_t
ea_now_ms()
{
    ngx_time_t *tp = ngx_timeofday();
    return static_cast<uint64_t>(tp->sec) * 1000 + tp->msec;
}


static ngx_rbtree_key_t
ea_node_key(const edge_auth::Digest &key)
{
    ngx_rbtree_key_t k;
    std::memcpy(&k, key.data(), sizeof(k));
    return k;
}


static void
ea_rbtree_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t **p;

    for (;;) {
        if (node->key < temp->key) {
            p = &temp->left;
        } else if (node->key > temp->key) {
            p = &temp->right;
        } else {
            ea_node_t *n = reinterpret_cast<ea_node_t *>(node);
            ea_node_t *t = reinterpret_cast<ea_node_t *>(temp);
            p = (std::memcmp(n->key, t->key, 32) < 0) ? &temp->left
                                                     : &temp->right;
        }
        if (*p == sentinel) {
            break;
        }
        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


ea_zone_t *
ea_zone_create(ngx_pool_t *pool)
{
    return static_cast<ea_zone_t *>(ngx_pcalloc(pool, sizeof(ea_zone_t)));
}


/* shm_zone->data is the new configuration's ea_zone_t (ea_zone_create);
 * `data` is the previous configuration's one on reload, else NULL. */
ngx_int_t
ea_zone_init(ngx_shm_zone_t *shm_zone, void *data) noexcept
{
    ea_zone_t *old = static_cast<ea_zone_t *>(data);
    ea_zone_t *zone = static_cast<ea_zone_t *>(shm_zone->data);
    ngx_slab_pool_t *shpool =
        reinterpret_cast<ngx_slab_pool_t *>(shm_zone->shm.addr);

    zone->shpool = shpool;

    /* A reload keeps the cache: the old cycle's data points at it. */
    if (old != NULL && old->sh != NULL) {
        zone->sh = old->sh;
        return NGX_OK;
    }
    if (shm_zone->shm.exists) {
        zone->sh = static_cast<ea_shctx_t *>(shpool->data);
        return NGX_OK;
    }

    zone->sh = static_cast<ea_shctx_t *>(ngx_slab_alloc(shpool, sizeof(ea_shctx_t)));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }
    shpool->data = zone->sh;
    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel, ea_rbtree_insert);
    ngx_queue_init(&zone->sh->lru);
    ngx_queue_init(&zone->sh->series);
    try {
        std::string secret = edge_auth::random_bytes(sizeof(zone->sh->secret));
        std::memcpy(zone->sh->secret, secret.data(), sizeof(zone->sh->secret));
        edge_auth::wipe(secret);
    } catch (const std::exception &e) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "edge_auth: cannot seed the zone: %s", e.what());
        return NGX_ERROR;
    }

    static const char ctx_name[] = " in edge_auth zone \"edge_auth\"";
    shpool->log_ctx = static_cast<u_char *>(ngx_slab_alloc(shpool, sizeof(ctx_name)));
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }
    ngx_memcpy(shpool->log_ctx, ctx_name, sizeof(ctx_name));
    shpool->log_nomem = 0;  /* eviction handles it; no log spam */
    return NGX_OK;
}


static ea_zone_t *
ea_zone(ngx_shm_zone_t *shm_zone)
{
    return static_cast<ea_zone_t *>(shm_zone->data);
}


/* Caller holds the mutex. */
static ea_node_t *
ea_lookup_locked(ea_zone_t *zone, const edge_auth::Digest &key)
{
    ngx_rbtree_key_t k = ea_node_key(key);
    ngx_rbtree_node_t *node = zone->sh->rbtree.root;
    ngx_rbtree_node_t *sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {
        if (k < node->key) {
            node = node->left;
            continue;
        }
        if (k > node->key) {
            node = node->right;
            continue;
        }
        ea_node_t *n = reinterpret_cast<ea_node_t *>(node);
        int rc = std::memcmp(key.data(), n->key, 32);
        if (rc == 0) {
            return n;
        }
        node = (rc < 0) ? node->left : node->right;
    }
    return NULL;
}


static void
ea_free_locked(ea_zone_t *zone, ea_node_t *n)
{
    ngx_queue_remove(&n->queue);
    ngx_rbtree_delete(&zone->sh->rbtree, &n->node);
    ngx_slab_free_locked(zone->shpool, n);
}


/* Frees expired entries from the LRU end, and with force at least `need`
 * entries regardless of expiry. */
static void
ea_expire_locked(ea_zone_t *zone, ngx_uint_t force)
{
    uint64_t now = ea_now_ms();

    for (ngx_uint_t scanned = 0; scanned < 8 || force > 0; scanned++) {
        if (ngx_queue_empty(&zone->sh->lru)) {
            return;
        }
        ngx_queue_t *q = ngx_queue_last(&zone->sh->lru);
        ea_node_t *n = ngx_queue_data(q, ea_node_t, queue);
        if (force == 0 && n->expires > now) {
            return;
        }
        if (force > 0) {
            force--;
        }
        ea_free_locked(zone, n);
    }
}


bool
ea_zone_get(ngx_shm_zone_t *shm_zone, const edge_auth::Digest &key,
    std::string *value)
{
    ea_zone_t *zone = ea_zone(shm_zone);
    bool found = false;

    ngx_shmtx_lock(&zone->shpool->mutex);
    ea_node_t *n = ea_lookup_locked(zone, key);
    if (n != NULL) {
        if (n->expires <= ea_now_ms()) {
            ea_free_locked(zone, n);
        } else {
            ngx_queue_remove(&n->queue);
            ngx_queue_insert_head(&zone->sh->lru, &n->queue);
            if (value != NULL) {
                value->assign(reinterpret_cast<char *>(n->data), n->len);
            }
            found = true;
        }
    }
    ngx_shmtx_unlock(&zone->shpool->mutex);
    return found;
}


/* Caller holds the mutex; false when even eviction cannot make room. */
static bool
ea_insert_locked(ea_zone_t *zone, const edge_auth::Digest &key,
    std::string_view value, ngx_msec_t ttl)
{
    size_t size = offsetof(ea_node_t, data) + value.size();

    ea_expire_locked(zone, 0);
    ea_node_t *n = static_cast<ea_node_t *>(ngx_slab_alloc_locked(zone->shpool, size));
    for (int attempt = 0; n == NULL && attempt < 64; attempt++) {
        if (ngx_queue_empty(&zone->sh->lru)) {
            break;
        }
        ea_expire_locked(zone, 4);
        n = static_cast<ea_node_t *>(ngx_slab_alloc_locked(zone->shpool, size));
    }
    if (n == NULL) {
        return false;
    }

    std::memcpy(n->key, key.data(), 32);
    n->node.key = ea_node_key(key);
    n->expires = ea_now_ms() + ttl;
    n->len = static_cast<uint32_t>(value.size());
    std::memcpy(n->data, value.data(), value.size());
    ngx_rbtree_insert(&zone->sh->rbtree, &n->node);
    ngx_queue_insert_head(&zone->sh->lru, &n->queue);
    return true;
}


static void
ea_zone_full(size_t size)
{
    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "edge_auth: zone too small for a %uz-byte entry; "
                  "increase edge_auth_zone", size);
}


void
ea_zone_set(ngx_shm_zone_t *shm_zone, const edge_auth::Digest &key,
    std::string_view value, ngx_msec_t ttl)
{
    ea_zone_t *zone = ea_zone(shm_zone);

    ngx_shmtx_lock(&zone->shpool->mutex);
    ea_node_t *n = ea_lookup_locked(zone, key);
    if (n != NULL) {
        ea_free_locked(zone, n);
    }
    bool stored = ea_insert_locked(zone, key, value, ttl);
    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (!stored) {
        ea_zone_full(value.size());
    }
}


bool
ea_zone_add(ngx_shm_zone_t *shm_zone, const edge_auth::Digest &key,
    std::string_view value, ngx_msec_t ttl)
{
    ea_zone_t *zone = ea_zone(shm_zone);
    bool added = false;

    ngx_shmtx_lock(&zone->shpool->mutex);
    ea_node_t *n = ea_lookup_locked(zone, key);
    if (n != NULL && n->expires <= ea_now_ms()) {
        ea_free_locked(zone, n);
        n = NULL;
    }
    if (n == NULL) {
        added = ea_insert_locked(zone, key, value, ttl);
    }
    ngx_shmtx_unlock(&zone->shpool->mutex);
    return added;
}


void
ea_zone_delete(ngx_shm_zone_t *shm_zone, const edge_auth::Digest &key)
{
    ea_zone_t *zone = ea_zone(shm_zone);

    ngx_shmtx_lock(&zone->shpool->mutex);
    ea_node_t *n = ea_lookup_locked(zone, key);
    if (n != NULL) {
        ea_free_locked(zone, n);
    }
    ngx_shmtx_unlock(&zone->shpool->mutex);
}


std::string_view
ea_zone_secret(ngx_shm_zone_t *shm_zone)
{
    ea_zone_t *zone = ea_zone(shm_zone);
    return std::string_view(reinterpret_cast<char *>(zone->sh->secret),
                            sizeof(zone->sh->secret));
}


/* ---- metric series ------------------------------------------------------ */

/* The counter of one series, created at 0 when new (under the mutex; the
 * connector caches the pointer per worker). NULL when even eviction of
 * cached entries cannot make room. */
ngx_atomic_t *
ea_zone_series(ngx_shm_zone_t *shm_zone, uint32_t metric, std::string_view key)
{
    ea_zone_t *zone = ea_zone(shm_zone);
    ea_series_t *found = NULL;

    ngx_shmtx_lock(&zone->shpool->mutex);
    for (ngx_queue_t *q = ngx_queue_head(&zone->sh->series);
         q != ngx_queue_sentinel(&zone->sh->series); q = ngx_queue_next(q))
    {
        ea_series_t *s = ngx_queue_data(q, ea_series_t, queue);
        if (s->metric == metric && s->len == key.size()
            && std::memcmp(s->key, key.data(), key.size()) == 0)
        {
            found = s;
            break;
        }
    }
    if (found == NULL) {
        size_t size = offsetof(ea_series_t, key) + key.size();
        found = static_cast<ea_series_t *>(ngx_slab_alloc_locked(zone->shpool, size));
        for (int attempt = 0; found == NULL && attempt < 64; attempt++) {
            if (ngx_queue_empty(&zone->sh->lru)) {
                break;
            }
            ea_expire_locked(zone, 4);
            found = static_cast<ea_series_t *>(ngx_slab_alloc_locked(zone->shpool, size));
        }
        if (found != NULL) {
            found->value = 0;
            found->metric = metric;
            found->len = static_cast<uint32_t>(key.size());
            std::memcpy(found->key, key.data(), key.size());
            ngx_queue_insert_tail(&zone->sh->series, &found->queue);
        }
    }
    ngx_shmtx_unlock(&zone->shpool->mutex);
    return found != NULL ? &found->value : NULL;
}


void
ea_zone_each_series(ngx_shm_zone_t *shm_zone,
    const std::function<void(uint32_t, std::string_view, uint64_t)> &visit)
{
    ea_zone_t *zone = ea_zone(shm_zone);
    std::vector<std::tuple<uint32_t, std::string, uint64_t>> copy;

    /* copied under the lock, visited without it */
    ngx_shmtx_lock(&zone->shpool->mutex);
    try {
        for (ngx_queue_t *q = ngx_queue_head(&zone->sh->series);
             q != ngx_queue_sentinel(&zone->sh->series); q = ngx_queue_next(q))
        {
            ea_series_t *s = ngx_queue_data(q, ea_series_t, queue);
            copy.emplace_back(s->metric, std::string(reinterpret_cast<char *>(s->key), s->len),
                              static_cast<uint64_t>(s->value));
        }
    } catch (...) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        throw;
    }
    ngx_shmtx_unlock(&zone->shpool->mutex);
    for (const auto &[metric, key, value] : copy) {
        visit(metric, key, value);
    }
}


void
ea_zone_usage(ngx_shm_zone_t *shm_zone, size_t *size, size_t *free)
{
    ea_zone_t *zone = ea_zone(shm_zone);
    ngx_slab_pool_t *pool = zone->shpool;
    ngx_shmtx_lock(&pool->mutex);
    /* whole free pages, and the free chunks of the pages each size class
     * holds (the slab's own statistics) */
    size_t bytes = pool->pfree * ngx_pagesize;
    ngx_uint_t classes = ngx_pagesize_shift - pool->min_shift;
    for (ngx_uint_t i = 0; i < classes; i++) {
        const ngx_slab_stat_t &st = pool->stats[i];
        if (st.total > st.used) {
            bytes += (st.total - st.used) * (pool->min_size << i);
        }
    }
    *free = bytes;
    ngx_shmtx_unlock(&pool->mutex);
    *size = shm_zone->shm.size;
}
