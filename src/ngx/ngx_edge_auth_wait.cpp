/*
 * Parking requests until a value arrives: a wait list per awaited thing
 * (a JWKS document, an introspection result ...). A parked request is held
 * by r->main->blocked, has its own deadline timer, and is resumed by
 * re-running its phases, where the handler looks for the value again.
 * The phases may also run while it waits (a write event on the client
 * connection runs r->write_event_handler): handlers see ctx->parked and
 * keep waiting.
 *
 *   if (!have_value) return ea_wait_park(r, &list, 5000, &ctx->waited);
 *   ... when it arrives:  ea_wait_wake_all(&list);
 *
 * Other workers cannot wake us: a list may poll (`poll` callback, every
 * `interval` ms while anybody waits) and wakes everyone when it says so.
 */

#include "ngx/ngx_edge_auth.h"

struct EaParked {
    ngx_http_request_t *request;
    EaWaitList *list;
    ngx_event_t timer;
    ngx_flag_t *timed_out;
};


static void
ea_wait_resume(ngx_http_request_t *r)
{
    ngx_connection_t *c = r->connection;
    ea_ctx_t *ctx = ea_get_ctx(r);
    if (ctx != NULL) {
        ctx->parked = 0;
    }
    r->main->blocked--;
    r->write_event_handler(r);
    ngx_http_run_posted_requests(c);
}


static void
ea_wait_timeout(ngx_event_t *ev) noexcept
{
    EaParked *p = static_cast<EaParked *>(ev->data);
    auto &v = p->list->parked;
    for (auto it = v.begin(); it != v.end(); ++it) {
        if (*it == p) {
            v.erase(it);
            break;
        }
    }
    if (p->timed_out) {
        *p->timed_out = 1;
    }
    ea_wait_resume(p->request);
}


static void
ea_wait_poll(ngx_event_t *ev) noexcept
{
    EaWaitList *list = static_cast<EaWaitList *>(ev->data);
    if (list->parked.empty()) {
        return;
    }
    bool wake = true;
    try {
        wake = !list->poll || list->poll();
    } catch (const std::exception &e) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0, "edge_auth: %s", e.what());
    }
    if (wake) {
        ea_wait_wake_all(list);
    } else if (!list->poll_timer.timer_set && !list->parked.empty()) {
        ngx_add_timer(&list->poll_timer, list->poll_interval);
    }
}


ngx_int_t
ea_wait_park(ngx_http_request_t *r, EaWaitList *list, ngx_msec_t timeout,
    ngx_flag_t *timed_out)
{
    EaParked *p = static_cast<EaParked *>(ngx_pcalloc(r->pool, sizeof(EaParked)));
    if (p == NULL) {
        return NGX_ERROR;
    }
    p->request = r;
    p->list = list;
    p->timed_out = timed_out;
    p->timer.handler = ea_wait_timeout;
    p->timer.data = p;
    p->timer.log = r->connection->log;
    ngx_add_timer(&p->timer, timeout);

    list->parked.push_back(p);
    if (list->poll && !list->poll_timer.timer_set) {
        list->poll_timer.handler = ea_wait_poll;
        list->poll_timer.data = list;
        list->poll_timer.log = ngx_cycle->log;
        list->poll_timer.cancelable = 1;
        ngx_add_timer(&list->poll_timer, list->poll_interval);
    }
    r->main->blocked++;
    ea_ctx_t *ctx = ea_get_ctx(r);
    if (ctx != NULL) {
        ctx->parked = 1;
    }
    /* notice a client that goes away while it waits */
    r->read_event_handler = ngx_http_test_reading;
    return NGX_AGAIN;
}


void
ea_wait_wake_all(EaWaitList *list)
{
    if (list->poll_timer.timer_set) {
        ngx_del_timer(&list->poll_timer);
    }
    std::vector<EaParked *> parked;
    parked.swap(list->parked);  /* resumed requests may park again */
    for (EaParked *p : parked) {
        if (p->timer.timer_set) {
            ngx_del_timer(&p->timer);
        }
        ea_wait_resume(p->request);
    }
}


EaWaitList::~EaWaitList()
{
    if (poll_timer.timer_set) {
        ngx_del_timer(&poll_timer);
    }
}
