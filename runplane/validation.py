"""connexion's parameter validation, made to name the parameter it rejects.

connexion reports a bad parameter value with the jsonschema message alone ("0 is less than the minimum
of 1"), which leaves a client guessing which parameter was meant; this validator raises a problem that
carries the parameter's name and location, which the error table puts into `details`.
"""

from __future__ import annotations

from typing import Any

from connexion.exceptions import BadRequestProblem
from connexion.validators.parameter import ParameterValidator


class ParameterProblem(BadRequestProblem):
    def __init__(self, detail: str, *, field: str, location: str) -> None:
        super().__init__(detail=detail)
        self.field = field
        self.location = location


class NamingParameterValidator(ParameterValidator):
    @staticmethod
    def validate_parameter(
        parameter_type: str, value: Any, param: dict[str, Any], param_name: str | None = None
    ) -> str | None:
        error = ParameterValidator.validate_parameter(parameter_type, value, param, param_name)
        if error:
            message = error.split("\n\nFailed validating")[0].split("\n")[0]
            raise ParameterProblem(message, field=param["name"], location=parameter_type)
        return None
