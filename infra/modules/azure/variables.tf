variable "topology_file" {
  description = "Path of the courier topology file (YAML). Topics, queues, subscriptions, filters and dead-letter settings all come from it."
  type        = string
}

variable "namespace_name" {
  description = "Service Bus namespace name (globally unique, 6-50 characters)."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group of the namespace (must exist)."
  type        = string
}

variable "location" {
  description = "Azure region, e.g. westeurope."
  type        = string
}

variable "sku" {
  description = "Namespace tier: Standard (topics need at least Standard) or Premium."
  type        = string
  default     = "Standard"

  validation {
    condition     = contains(["Standard", "Premium"], var.sku)
    error_message = "Topics and subscriptions need the Standard or Premium tier."
  }
}

variable "local_auth_enabled" {
  description = "Allow SAS keys (courier connects with a connection string). Set false for Entra ID only; courier then cannot connect with SAS."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for the namespace."
  type        = map(string)
  default     = {}
}
