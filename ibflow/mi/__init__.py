"""MI estimators built from ibflow's own flow layers (registered in :data:`estimators.ESTIMATORS` on import)."""

from ibflow.mi.flow_estimator import FlowMI, FlowMIOptions, GaussianizingFlows, flow_mutual_information
from ibflow.mi.gaussian_latent import JointGaussian, canonical_correlations

__all__ = ["FlowMI", "FlowMIOptions", "GaussianizingFlows", "JointGaussian", "canonical_correlations",
           "flow_mutual_information"]
