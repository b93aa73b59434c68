// anvil._core's parser bindings (anvil.parser): registered into the module by
// module.cpp. Needs the GIL, like every pybind11 call.
#pragma once

#include <pybind11/pybind11.h>

namespace anvil::python {

void register_parser_bindings(pybind11::module_& m);

}  // namespace anvil::python
