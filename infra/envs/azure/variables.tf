variable "topology_file" {
  description = "The courier topology file."
  type        = string
  default     = "../../../topology.yaml"
}

variable "namespace_name" {
  description = "Service Bus namespace name (globally unique)."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group to create for the namespace."
  type        = string
  default     = "courier"
}

variable "location" {
  description = "Azure region."
  type        = string
  default     = "westeurope"
}
