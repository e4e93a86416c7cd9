/* The seg3d predict, test and metrics commands (src/cmd_predict.c, cmd_test.c, cmd_metrics.c) and the inference they run (infer.h). */
#ifndef PREDICT_H
#define PREDICT_H
#include "infer.h"

/* ./darknet seg3d predict|test|metrics ...  (argv as given to seg3d_main); return the exit code */
int seg3d_predict(int argc, char **argv);
int seg3d_test(int argc, char **argv);
int seg3d_metrics(int argc, char **argv);

#endif
