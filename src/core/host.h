// Facts about the machine Hearth runs on, for logs and reports.
#pragma once

#include <string>

namespace hearth {

// The CPU's model name as lscpu shows it ("AMD EPYC 9654 96-Core Processor"); empty if unknown.
std::string cpu_model_name();

}  // namespace hearth
