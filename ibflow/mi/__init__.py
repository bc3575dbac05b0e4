"""MI estimators built from ibflow's own flow layers (registered in :data:`estimators.ESTIMATORS` on import)."""

from ibflow.mi.flow_estimator import FlowMI, FlowMIOptions, GaussianizingFlows, flow_mutual_information
from ibflow.mi.gaussian_latent import JointGaussian
from ibflow.mi.mixture_latent import MixtureLatent, fit_gaussian_mixture

__all__ = ["FlowMI", "FlowMIOptions", "GaussianizingFlows", "JointGaussian", "MixtureLatent",
           "fit_gaussian_mixture", "flow_mutual_information"]
