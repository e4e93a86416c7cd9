/* Progress of inference over a list of cases: a redrawn status line with a time estimate on a terminal, nothing when stderr is not one. */
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include "progress.h"

static double wall(void)
{
    struct timeval tv;
    gettimeofday(&tv, 0);
    return tv.tv_sec + tv.tv_usec * 1e-6;
}

void progress_format_time(double secs, char *buf, size_t n)
{
    if(secs < 0) secs = 0;
    long s = (long)(secs + 0.5);
    if(s < 60) snprintf(buf, n, "%ld s", s);
    else if(s < 3600) snprintf(buf, n, "%ld min %02ld s", s / 60, s % 60);
    else snprintf(buf, n, "%ld h %02ld min", s / 3600, (s % 3600) / 60);
}

double progress_eta(double elapsed, double frac)
{
    if(!(frac > 0) || frac > 1 || elapsed < 0) return -1;
    return elapsed * (1 - frac) / frac;
}

void progress_init(progress *p, int ncases, int fd)
{
    memset(p, 0, sizeof(*p));
    p->out = isatty(fd) ? stderr : NULL;
    p->ncases = ncases > 0 ? ncases : 1;
    p->t0 = wall();
}

static void draw(progress *p)
{
    double t = wall(), el = t - p->t0;
    double frac = (p->icase + (p->total > 0 ? (double)p->done / p->total : 0)) / p->ncases;
    char a[32], b[32];
    progress_format_time(el, a, sizeof(a));
    fprintf(p->out, "\r\033[K[%d/%d] %s", p->icase + 1, p->ncases, p->name);
    if(p->total > 0) fprintf(p->out, ": window %ld/%ld", p->done, p->total);
    double eta = progress_eta(el, frac);
    if(eta >= 0){ progress_format_time(eta, b, sizeof(b)); fprintf(p->out, " | %s elapsed, about %s left", a, b); }
    else fprintf(p->out, " | %s elapsed", a);
    fflush(p->out);
    p->last = t;
    p->shown = 1;
}

void progress_case(progress *p, int icase, const char *name)
{
    if(!p || !p->out) return;
    p->icase = icase;
    snprintf(p->name, sizeof(p->name), "%s", name ? name : "");
    p->done = p->total = 0;
    draw(p);
}

void progress_update(progress *p, long done, long total)
{
    if(!p || !p->out) return;
    p->done = done; p->total = total;
    if(wall() - p->last >= 0.2 || done == total) draw(p);
}

void progress_clear(progress *p)
{
    if(!p || !p->out || !p->shown) return;
    fprintf(p->out, "\r\033[K");
    fflush(p->out);
    p->shown = 0;
}
