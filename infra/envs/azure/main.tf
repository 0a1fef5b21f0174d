# Deploys courier's topology to Azure Service Bus: `terraform init && terraform apply`.

terraform {
  required_version = ">= 1.6"
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.0"
    }
  }
}

provider "azurerm" {
  features {}
}

resource "azurerm_resource_group" "courier" {
  name     = var.resource_group_name
  location = var.location
}

module "courier" {
  source              = "../../modules/azure"
  topology_file       = var.topology_file
  namespace_name      = var.namespace_name
  resource_group_name = azurerm_resource_group.courier.name
  location            = azurerm_resource_group.courier.location
  tags                = { app = "courier" }
}
