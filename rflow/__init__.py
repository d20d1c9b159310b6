"""This folder is rflow's C++ library; the Python package lives in python/rflow. Python looks in the
current folder first, so `import rflow` from the repository root lands here: hand over to the
package, so that the import works wherever it is typed."""
import os as _os

_package = _os.path.join(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))), "python", "rflow")
__path__ = [_package]  # submodules (rflow.fields, rflow.export, ...) come from the package
with open(_os.path.join(_package, "__init__.py"), encoding="utf-8") as _f:
    exec(compile(_f.read(), _os.path.join(_package, "__init__.py"), "exec"))  # noqa: S102 (our own file)
