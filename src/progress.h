/* Progress of inference over a list of cases: a redrawn status line with a time estimate on a terminal, nothing when stderr is not one. */
#ifndef PROGRESS_H
#define PROGRESS_H
#include <stdio.h>

typedef struct {
    FILE *out;           /* stderr when it is a terminal, else NULL (all calls then do nothing) */
    int ncases, icase;   /* cases in the job, the current one (0-based) */
    char name[64];       /* current case id */
    long done, total;    /* windows of the current case */
    double t0, last;     /* start of the job, last redraw */
    int shown;           /* a status line is on the terminal */
} progress;

/* Starts a job of ncases cases; the status line is drawn only when `fd` (normally fileno(stderr)) is a terminal. */
void progress_init(progress *p, int ncases, int fd);
/* Case icase (0-based) named `name` begins. */
void progress_case(progress *p, int icase, const char *name);
/* `done` of `total` windows of the current case are finished (redraws at most 5 times a second). */
void progress_update(progress *p, long done, long total);
/* Erases the status line; call before printing a result line, so that it is not mixed with the status. */
void progress_clear(progress *p);
/* Seconds as "42 s", "3 min 05 s" or "2 h 07 min". */
void progress_format_time(double secs, char *buf, size_t n);
/* Estimated seconds left from the elapsed time and the fraction done (0 < frac <= 1); negative when unknown. */
double progress_eta(double elapsed, double frac);
#endif
