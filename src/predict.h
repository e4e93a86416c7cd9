/* What code that predicts volumes includes: the inference library (infer.h) and the seg3d predict, test and metrics commands (commands.h). */
#ifndef PREDICT_H
#define PREDICT_H
#include "infer.h"
#include "commands.h"
#endif
